"""flux shutdown: the log stream, exit codes, --gc, guests refused."""

import json
import os
import signal

import pytest
import tomli_w

from fluxd.client.sync import Flux
from fluxd.errors import PermissionDenied
from fluxd.message.types import ROLE_USER
from fluxd.testing.users import temporary_user
from tests.integration.lifecycle_helpers import (  # noqa: F401
    SYSTEM_PYTHON, make_broker, run_as_guest, shared_dir)


def test_shutdown_streams_and_exits_clean(make_broker, tmp_path):
    state = tmp_path / "state"
    broker = make_broker(attrs={"statedir": str(state)}).start()
    r = broker.flux("shutdown")
    assert (r.rc, r.out) == (0, "")
    lines = r.err.splitlines()
    assert "shutdown.info[0]: shutdown requested by uid 0" in lines
    assert any(line.startswith("broker.info[0]: shutdown: run->cleanup ") for line in lines)
    assert any(line.startswith("broker.info[0]: rc3-success: finalize->goodbye ")
               for line in lines)
    assert broker.wait() == 0
    assert "builtins-done: unload-builtins->exit" in broker.log_text
    events = [json.loads(line) for line in (state / "startlog").read_text().splitlines()]
    assert [e["name"] for e in events] == ["start", "finish"]


def test_exit_norestart_and_gc_request(make_broker, tmp_path):
    state = tmp_path / "state"
    broker = make_broker(attrs={"statedir": str(state),
                                "broker.exit-norestart": "42"}).start()
    r = broker.flux("shutdown", "--gc", "--quiet")
    assert r.rc == 0, r.err
    assert r.err == ("flux-shutdown: shutdown will dump KVS (this may take"
                     " some time)\n")
    assert broker.wait() == 42
    assert "shutdown: KVS dump requested (content.dump=auto)" in broker.log_text
    finish = json.loads((state / "startlog").read_text().splitlines()[-1])
    assert finish["context"] == {"version": 1, "dump": "auto"}


def test_background(make_broker):
    broker = make_broker().start()
    r = broker.flux("shutdown", "--background")
    assert (r.rc, r.out, r.err) == (0, "", "")
    assert broker.wait() == 0


def test_bad_options_and_guest_refused(make_broker):
    broker = make_broker().start()
    r = broker.flux("shutdown", "--gc", "--dump=/tmp/x.tgz")
    assert (r.rc, r.err) == (1, "flux-shutdown: --gc is incompatible with"
                                " --skip-gc or --dump\n")
    with Flux(broker.uri, userid=4242, rolemask=ROLE_USER) as h:
        with pytest.raises(PermissionDenied) as caught:
            list(h.stream("shutdown.start", {}))
    assert str(caught.value) == "Request requires owner credentials"
    assert broker.flux("uptime").out.split()[1] == "run"
    assert broker.stop(signal.SIGTERM) in (0, -signal.SIGTERM)


@pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                    reason="needs root to create a user")
def test_real_guest_shutdown_refused(make_broker, shared_dir):
    rundir = os.path.join(shared_dir, "run")
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    config = os.path.join(shared_dir, "guest.toml")
    with open(config, "wb") as f:
        tomli_w.dump({"access": {"allow-guest-user": True}}, f)
    broker = make_broker(config_path=config,
                         attrs={"rundir": rundir,
                                "local-uri": f"local://{rundir}/local"}).start()
    with temporary_user() as user:
        proc = run_as_guest(user, shared_dir,
                            "from fluxd.cli.main import main; main(['shutdown'])",
                            env={"FLUX_URI": broker.uri})
    assert proc.returncode == 1
    assert proc.stderr == "flux-shutdown: Request requires owner credentials\n"
    assert broker.flux("getattr", "rank").out == "0\n"
    assert broker.proc.poll() is None
