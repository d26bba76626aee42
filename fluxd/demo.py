# -*- test-case-name: tests.integration.test_demo -*-
"""The main job of ``./dev run``: a short, real session with fluxd.

It starts a real multi-broker instance with ``flux start --test-size=4``
(the embedded default configuration, state in temporary directories),
runs ``flux`` commands against it and the format tools beside it,
printing each command and its output as a terminal would; the instance
stops when the session ends.  It exits non-zero if any command fails.
"""

import os
import shlex
import subprocess
import sys
import tempfile

from fluxd.testing.cli import flux_executable
from fluxd.testing.guide import RESOURCE_CONFIG

#: brokers in the demo instance
SIZE = 4

GUIDE_CONFIG = RESOURCE_CONFIG

#: the attribute that makes a job a test job, and how long it runs
TEST = "--setattr=system.exec.test.run_duration"


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


def inside(confdir):
    """The session, run by ``flux start`` inside the instance."""
    env = dict(os.environ)
    print(f"# a {SIZE}-broker fluxd instance is running: FLUX_URI={env['FLUX_URI']}\n")
    for line in [
        "flux getattr size",
        "flux overlay status",
        "flux ping -c 3 -i 0.1 3",
        "flux module list",
        "flux resource list",
        "flux resource status",
        # a real job: one job shell per node, each running its task
        "flux run -N2 -l --job-name=hostnames sh -c"
        " 'echo $(hostname) task $FLUX_TASK_RANK of $FLUX_JOB_SIZE'",
        # jobs executed in test mode (flux-core's testexec): each lasts
        # run_duration, no process runs
        f"flux submit --cc=1-6 --wait {TEST}=0.2s -n1 true",
        f"flux run -N2 --job-name=two-nodes {TEST}=0.1s true",
        f"id=$(flux submit --job-name=fails {TEST}=0.1s"
        " --setattr=system.exec.test.wait_status=256 true)"
        " && flux job wait-event $id clean",
        f"id=$(flux submit --job-name=too-long -t 0.2s {TEST}=1h true)"
        " && flux job wait-event $id clean",
        f"id=$(flux submit -N1 --job-name=running {TEST}=1h true)"
        " && flux job wait-event $id start >/dev/null && flux resource list"
        " && flux jobs && flux cancel $id && flux job wait-event $id clean",
        "flux jobs -a",
        "flux hostlist -e -d' ' 'test[1-4],fat[01-02]'",
        "flux job id --to=f58 6731191091817518",
        f"flux R parse-config {shlex.quote(confdir)} | flux R decode --short",
        f"flux R parse-config {shlex.quote(confdir)} | flux R decode -p fatnode --nodelist",
    ]:
        run(line, env)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--inside"]:
        return inside(argv[1])
    flux = flux_executable()
    with tempfile.TemporaryDirectory(prefix="fluxd-demo-") as tmp:
        confdir = os.path.join(tmp, "conf.d")
        os.mkdir(confdir)
        with open(os.path.join(confdir, "resource.toml"), "w") as f:
            f.write(GUIDE_CONFIG)
        print(f"$ flux start --test-size={SIZE} ...", flush=True)
        rc = subprocess.call([flux, "start", f"--test-size={SIZE}",
                              sys.executable, "-m", "fluxd.demo", "--inside",
                              confdir])
    print(f"\n# instance stopped (exit {rc})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
