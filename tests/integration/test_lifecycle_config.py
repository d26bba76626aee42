"""flux config get/reload and SIGHUP on a real broker: changed and broken files."""

import os
import signal

from fluxd.testing.cli import run_flux_process
from tests.integration.lifecycle_helpers import make_broker  # noqa: F401


def test_reload_changed_and_broken(make_broker, tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    access = conf / "access.toml"
    access.write_text("[access]\nallow-guest-user = false\n")
    (conf / "tbon.toml").write_text('[tbon]\ntcp_user_timeout = "2m"\n')
    broker = make_broker(config_path=str(conf)).start()

    r = broker.flux("config", "get", "access.allow-guest-user")
    assert (r.rc, r.out) == (0, "false\n")
    r = broker.flux("config", "get", "--type=fsd-integer", "tbon.tcp_user_timeout")
    assert (r.rc, r.out) == (0, "120\n")
    r = broker.flux("config", "get", "tbon")
    assert r.out == '{"tcp_user_timeout":"2m"}\n'
    r = broker.flux("config", "get", "kvs.gc-threshold")
    assert (r.rc, r.err) == (1, "flux-config: kvs.gc-threshold is not set\n")

    # a changed file
    access.write_text("[access]\nallow-guest-user = true\n")
    r = broker.flux("config", "reload")
    assert (r.rc, r.out, r.err) == (0, "", "")
    assert broker.flux("config", "get", "access.allow-guest-user").out == "true\n"
    broker.wait_for(f"config reloaded from {conf}")

    # a broken one: refused in one line, old config kept, broker fine
    access.write_text("[access\nallow-guest-user = false\n")
    r = broker.flux("config", "reload")
    assert r.rc == 1
    assert r.err.startswith(f"flux-config: reload: {access}:1: ")
    assert r.err.count("\n") == 1
    assert broker.flux("config", "get", "access.allow-guest-user").out == "true\n"
    assert "config reload failed, keeping the old config" in broker.log_text
    assert broker.flux("getattr", "rank").out == "0\n"

    # an ill-typed value is refused the same way
    access.write_text("[access]\nallow-guest-user = 'no'\n")
    r = broker.flux("config", "reload")
    assert r.rc == 1 and "allow-guest-user" in r.err

    # SIGHUP (systemctl reload) re-reads too
    access.write_text("[access]\nallow-guest-user = false\n")
    mark = len(broker.output)
    os.kill(broker.proc.pid, signal.SIGHUP)
    broker.wait_for("config reloaded from", start=mark)
    assert broker.flux("config", "get", "access.allow-guest-user").out == "false\n"

    access.write_text("garbage = = =\n")
    mark = len(broker.output)
    os.kill(broker.proc.pid, signal.SIGHUP)
    broker.wait_for("config reload failed", start=mark)
    assert broker.proc.poll() is None
    assert broker.flux("config", "get", "access.allow-guest-user").out == "false\n"

    # --config-path reads the files, not the broker
    r = run_flux_process(["config", "get", "-c", str(conf), "tbon.tcp_user_timeout"])
    assert r.rc == 1 and "access.toml:1:" in r.err
    access.write_text("[access]\nallow-guest-user = true\n")
    r = run_flux_process(["config", "get", "-c", str(conf), "access.allow-guest-user"])
    assert (r.rc, r.out) == (0, "true\n")
