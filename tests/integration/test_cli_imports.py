"""What ``flux getattr`` imports: nothing a verb does not need.

The installed ``flux`` command runs ``getattr rank`` against a real broker
under ``python -X importtime``; every module it imports beyond those of
``python -c pass`` must be in :data:`ALLOWED`.  Adding a module to the
getattr path (``argparse``, ``json``, ``socket``, ``re``, a format, the
config loader...) fails this test: keep it out, or justify it here.
"""

import subprocess
import sys

from fluxd.testing.cli import flux_executable

#: the modules `flux getattr` may import beyond the interpreter's own
ALLOWED = {
    "fluxd", "fluxd.cli", "fluxd.cli.main", "fluxd.cli.cmd_attr",
    "fluxd.errors", "errno",
    "fluxd.client", "fluxd.client.sync", "fluxd.client.wire",
    "fluxd.client.uri", "fluxd.client.jsonc", "_socket", "_json",
}


def imported(argv, env=None):
    """Names of the modules ``python -X importtime ARGV`` imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv],
                          capture_output=True, text=True, env=env)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return proc, names


def test_getattr_imports_only_what_it_needs(broker):
    _, floor = imported(["-c", "pass"])
    env = dict(broker.env, FLUX_URI=broker.uri)
    proc, names = imported([flux_executable(), "getattr", "rank"], env=env)
    assert proc.returncode == 0 and proc.stdout == "0\n", proc.stderr
    assert "fluxd.client.sync" in names  # the probe sees our modules
    assert names - floor - ALLOWED == set()
