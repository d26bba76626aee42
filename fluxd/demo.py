# -*- test-case-name: tests.integration.test_demo -*-
"""The main job of ``./dev run``: a short, real session with fluxd.

It starts a real broker (``twistd -n fluxd``) with the embedded default
configuration in a temporary directory, runs ``flux`` commands against
it and the format tools beside it, printing each command and its output
as a terminal would, then stops the broker.  It exits non-zero if any
command fails.
"""

import os
import shlex
import subprocess
import sys
import tempfile

from fluxd.testing.broker import BrokerProcess
from fluxd.testing.cli import flux_executable

GUIDE_CONFIG = """\
[[resource.config]]
hosts = "test[1-15]"
cores = "0-7"
gpus = "0"

[[resource.config]]
hosts = "test16"
cores = "0-63"
gpus = "0-1"
properties = ["fatnode"]
"""


def run(line, env):
    """Run one shell line with ``flux`` on PATH; print it and its output."""
    print(f"$ {line}", flush=True)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env,
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    sys.stdout.flush()
    if proc.returncode != 0:
        raise SystemExit(f"demo: command failed ({proc.returncode}): {line}")


def main():
    bindir = os.path.dirname(flux_executable())
    with tempfile.TemporaryDirectory(prefix="fluxd-demo-") as tmp:
        confdir = os.path.join(tmp, "conf.d")
        os.mkdir(confdir)
        with open(os.path.join(confdir, "resource.toml"), "w") as f:
            f.write(GUIDE_CONFIG)
        broker = BrokerProcess(tmp).start()
        env = dict(os.environ, FLUX_URI=broker.uri,
                   PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        try:
            print(f"# a fluxd broker is running: FLUX_URI={broker.uri}\n")
            for line in [
                "flux getattr rank",
                "flux getattr size",
                "flux lsattr -v | grep -E '^(rank|size|version|local-uri) '",
                "flux module list",
                "flux hostlist -e -d' ' 'test[1-4],fat[01-02]'",
                "flux hostlist -u 'host[1-3]' bar baz",
                "flux job id --to=f58 6731191091817518",
                "flux job id --to=words ƒuZZybuNNy",
                f"flux R parse-config {shlex.quote(confdir)} | flux R decode --short",
                f"flux R parse-config {shlex.quote(confdir)} | flux R decode -p fatnode --nodelist",
            ]:
                run(line, env)
        finally:
            broker.stop()
    print("\n# broker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
