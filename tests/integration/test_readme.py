"""The README's commands run as written, from the repository root.

The shell blocks of README.md are read, not copied: a command changed
there is the command tested here.  Fixed paths the README uses for a
person (``/tmp/flux``) are swapped for a private directory.
"""

import os
import re
import shlex
import signal
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
BIN = os.path.dirname(sys.executable)


def readme():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def shell_lines():
    """The README's ``sh`` blocks as commands (continuations joined,
    comments dropped)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", readme(), re.S):
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith(">>>"):
                lines.append(command)
    return lines


def command(prefix):
    """The one README command starting with ``prefix``."""
    found = [line for line in shell_lines() if line.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def env():
    return dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])


def test_paths_exist_and_nothing_outside():
    text = readme()
    assert "../shared" not in text
    paths = [word.split("=", 1)[1] for line in shell_lines()
             for word in shlex.split(line) if word.startswith("--config-path=")]
    assert "conf/conf.d" in paths
    for path in paths:
        if not path.startswith("/"):
            assert os.path.isdir(os.path.join(REPO, path)), path


def test_one_command_instance():
    argv = shlex.split(command("flux start --test-size=4 "))
    proc = subprocess.run(argv, cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].endswith("-0: full")
    assert len(proc.stdout.splitlines()) == 4


def test_interactive_instance_with_the_example_config():
    argv = shlex.split(command("flux start --test-size=16 "))
    proc = subprocess.run(argv, cwd=REPO, env=dict(env(), SHELL="/bin/sh"),
                          input="flux getattr size\nflux resource list\n",
                          capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0] == "16"
    assert lines[2].split() == ["free", "15", "120", "15", "test[1-15]"]
    assert lines[3].split() == ["free", "fatnode", "1", "64", "2", "test16"]


def test_broker_by_hand(tmp_path):
    run = str(tmp_path / "flux")
    broker = command("twistd -n --pidfile= fluxd --config-path=")
    argv = shlex.split(broker.replace("/tmp/flux", run))
    argv[0] = os.path.join(BIN, argv[0])
    proc = subprocess.Popen(argv, cwd=REPO, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            assert "Traceback" not in line
            if "broker ready" in line:
                break
        client = command("FLUX_URI=local:///tmp/flux/local flux getattr")
        uri, rest = client.replace("/tmp/flux", run).split(" ", 1)
        out = subprocess.run(shlex.split(rest), env=dict(
            env(), FLUX_URI=uri.split("=", 1)[1]), capture_output=True,
            text=True, timeout=60)
        assert (out.returncode, out.stdout, out.stderr) == (0, "0\n", "")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
