"""A real broker goes through its states; uptime, dmesg, logger, rc1/rc3."""

import os
import re
import signal
import subprocess
import threading

from fluxd.client.sync import Flux
from fluxd.testing.cli import flux_executable
from tests.integration.lifecycle_helpers import journal, make_broker, write_script  # noqa: F401

TRANSITION = re.compile(r"^broker\.info\[0\]: ([a-z0-9-]+): ([a-z-]+)->([a-z-]+) "
                        r"(\d[\d.e+-]*s|\d[\d.]*[mhd])$")


def configured(tmp_path):
    conf = tmp_path / "conf.d"
    (conf / "rc1.d").mkdir(parents=True)
    (conf / "rc3.d").mkdir()
    (conf / "access.toml").write_text("[access]\nallow-guest-user = false\n")
    write_script(conf / "rc1.d" / "10-hello",
                 'echo "hello from rc1"\nflux getattr rank\n')
    write_script(conf / "rc3.d" / "10-bye",
                 f'echo bye > {tmp_path}/rc3-ran\n')
    return conf


def test_states_journal_uptime_dmesg(make_broker, tmp_path):
    conf = configured(tmp_path)
    broker = make_broker(config_path=str(conf),
                         attrs={"log-stderr-level": "6",
                                "log-stderr-mode": "local"}).start()
    lines = journal(broker)
    steps = [TRANSITION.match(line).groups()[:3] for line in lines
             if TRANSITION.match(line)]
    assert steps == [
        ("start", "none", "load-builtins"),
        ("builtins-success", "load-builtins", "join"),
        ("parent-none", "join", "config-sync"),
        ("sync-none", "config-sync", "init"),
        ("rc1-success", "init", "quorum"),
        ("quorum-full", "quorum", "run"),
    ]
    rc1 = conf / "rc1.d"
    assert f"broker.info[0]: rc1.0: running {rc1}/10-hello" in lines
    assert "broker.info[0]: rc1.0: hello from rc1" in lines
    assert "broker.info[0]: rc1.0: 0" in lines  # flux getattr rank via FLUX_URI
    assert any(re.fullmatch(rf"broker\.info\[0\]: rc1\.0: {rc1} Exited \(rc=0\) "
                            r"\d+\.\ds", line) for line in lines)
    assert any(line.startswith("broker.info[0]: online: ") for line in lines)

    r = broker.flux("uptime")
    assert r.rc == 0, r.err
    assert re.fullmatch(r" \d\d:\d\d:\d\d run \S+,  owner root,  depth 0,  size 1\n",
                        r.out), r.out

    r = broker.flux("dmesg")
    assert r.rc == 0, r.err
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) "
                     r"broker\.info\[0\]: quorum-full: quorum->run ", r.out, re.M)
    assert "connection established" not in r.out
    human = broker.flux("dmesg", "-H").out.splitlines()
    assert re.fullmatch(r"\[[A-Z][a-z]{2}\d\d \d\d:\d\d\] broker\.info\[0\]: start: "
                        r"none->load-builtins \S+", human[0]), human[0]
    assert re.match(r"\[ *\+\d+\.\d{6}\] ", human[1])

    r = broker.flux("logger", "--severity=warning", "--appname=admin", "hi", "there")
    assert (r.rc, r.err) == (0, "")
    last = broker.flux("dmesg").out.splitlines()[-1]
    assert last.endswith(" admin.warning[0]: hi there")
    assert "admin.warning[0]: hi there" in journal(broker)
    assert broker.flux("logger", "from", "stdin").rc == 0

    with Flux(broker.uri) as h:
        assert h.rpc("state-machine.get")["state"] == "run"
        assert h.rpc("state-machine.wait") == {}

    # bad dmesg options: one line, the broker unaffected
    r = broker.flux("dmesg", "--bogus")
    assert (r.rc, r.out, r.err) == (1, "", "flux-dmesg: unrecognized option '--bogus'\n")
    r = broker.flux("dmesg", "-d")
    assert r.err == "flux-dmesg: --delta can only be used with --human\n"
    assert broker.flux("getattr", "rank").out == "0\n"

    # -c prints then clears, -C clears
    assert broker.flux("dmesg", "-c").out
    assert broker.flux("dmesg").out == ""
    broker.flux("logger", "again")
    assert broker.flux("dmesg", "-C").out == ""
    assert broker.flux("dmesg").out == ""

    assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    steps = [TRANSITION.match(line).groups()[:3] for line in journal(broker)
             if TRANSITION.match(line)]
    assert steps[6:] == [
        ("shutdown", "run", "cleanup"),
        ("cleanup-none", "cleanup", "shutdown"),
        ("children-none", "shutdown", "finalize"),
        ("rc3-success", "finalize", "goodbye"),
        ("goodbye", "goodbye", "unload-builtins"),
        ("builtins-done", "unload-builtins", "exit"),
    ]
    assert (tmp_path / "rc3-ran").read_text() == "bye\n"


def test_dmesg_follow(make_broker):
    broker = make_broker().start()
    env = dict(os.environ, FLUX_URI=broker.uri)
    assert broker.flux("logger", "first").rc == 0
    follower = subprocess.Popen([flux_executable(), "dmesg", "-f"],
                                stdout=subprocess.PIPE, text=True, env=env)
    # a hang must fail the test, not the suite: EOF after 30s at most
    watchdog = threading.Timer(30, follower.kill)
    watchdog.start()
    try:
        # "first" is in the backlog; once it is printed the follower is
        # registered (backlog and registration happen in one step)
        line = follower.stdout.readline()
        while "logger.notice[0]: first" not in line:
            assert line, "dmesg -f ended"
            line = follower.stdout.readline()
        assert broker.flux("logger", "second").rc == 0
        assert "logger.notice[0]: second" in follower.stdout.readline()
    finally:
        watchdog.cancel()
        follower.terminate()
        follower.wait(10)


def test_rc1_failure_stops_the_broker(make_broker, tmp_path):
    conf = tmp_path / "conf.d"
    (conf / "rc1.d").mkdir(parents=True)
    write_script(conf / "rc1.d" / "01-fail", "echo cannot >&2\nexit 3\n")
    broker = make_broker(config_path=str(conf)).start(wait=False)
    assert broker.wait() == 3
    text = broker.log_text
    assert "rc1.0: cannot" in text
    assert "rc1-fail: init->shutdown" in text
    assert "broker ready" not in text


def test_rc1_failure_with_exit_norestart(make_broker, tmp_path):
    conf = tmp_path / "conf.d"
    (conf / "rc1.d").mkdir(parents=True)
    write_script(conf / "rc1.d" / "01-fail", "exit 3\n")
    broker = make_broker(config_path=str(conf),
                         attrs={"broker.exit-norestart": "42"}).start(wait=False)
    assert broker.wait() == 42


def test_initial_program_exit_code(make_broker, tmp_path):
    out = tmp_path / "rc2.out"
    broker = make_broker(initial_program=[
        "sh", "-c", f'flux getattr rank > {out}; flux uptime >> {out}; exit 7'])
    broker.start(wait=False)
    assert broker.wait() == 7
    lines = out.read_text().splitlines()
    assert lines[0] == "0"
    assert " run " in lines[1]
    assert "rc2-fail: run->cleanup" in broker.log_text
