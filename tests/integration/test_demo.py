"""The README's main job runs and shows a live broker answering."""

import subprocess
import sys


def test_demo_runs():
    proc = subprocess.run([sys.executable, "-m", "fluxd.demo"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "$ flux getattr rank\n0\n" in out
    assert "Module                    Idle  S Sendq Recvq Service" in out
    assert "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]" in out
    assert "Traceback" not in out
