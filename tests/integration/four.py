"""Commands run on chosen ranks of a real 4-broker instance.

The script runs inside ``flux start --test-size=4``: each
``flux(rank, *args)`` line runs ``flux ARGS`` against that rank's broker
and records ``[rank, args, returncode, stdout, stderr]``.
"""

import json
import subprocess
import sys
import textwrap

from fluxd.testing.cli import flux_executable

PRELUDE = """\
import json, os, subprocess, sys
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")
root = os.environ["FLUXD_START_DIR"]
def flux(rank, *args):
    env = dict(os.environ, FLUX_URI=f"local://{root}/rank-{rank}/local")
    p = subprocess.run([FLUX, *args], capture_output=True, text=True,
                       env=env)
    print(json.dumps([rank, list(args), p.returncode, p.stdout, p.stderr]))
"""


def run_on_four(tmp_path, body):
    """Run ``body`` (lines of ``flux(rank, ...)`` calls) on 4 brokers.

    :returns: one ``[rank, args, rc, stdout, stderr]`` per call, in order.
    """
    path = tmp_path / "script.py"
    path.write_text(PRELUDE + textwrap.dedent(body))
    proc = subprocess.run([flux_executable(), "start", "--test-size=4",
                           sys.executable, str(path)], capture_output=True,
                          text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]
