"""Munge-signed jobs on a real broker: a real second user submits with
``flux submit`` (root only; a private munged)."""

import os

import pytest

from tests.integration.multiuser import NEEDS_ROOT_AND_MUNGE

pytestmark = NEEDS_ROOT_AND_MUNGE

SIGN_SCRIPT = """
import sys
from fluxd.security.sign import load_sign_config, wrap
print(wrap(b'{}', int(sys.argv[2]), load_sign_config(sys.argv[1])))
"""


def test_guest_submits_with_munge(multiuser, broker_factory):
    mu = multiuser
    munge = mu.security("munge")
    nonesign = mu.security("none", socket=None, default="none",
                           allowed=("none",))
    rundir = mu.rundir("b")
    config = mu.path("system.toml")
    with open(config, "w") as f:
        f.write("[access]\nallow-guest-user = true\n")
    broker = broker_factory(
        config_path=config, name="b",
        attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local"},
        env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=munge))

    def guest_flux(user, *argv, confdir=munge):
        return mu.flux_as(user, broker.uri, *argv, confdir=confdir)

    guest = mu.user()
    rc, out, err = guest_flux(guest, "submit", "--urgency=hold", "true")
    assert (rc, err) == (0, "")
    jobid = out.strip()
    rc, out, err = guest_flux(guest, "job", "info", jobid, "J")
    assert rc == 0, err
    assert out.split(".")[2].startswith("MUNGE:")
    listed = broker.flux("jobs", "-a", "-A", "-n",
                         "--format={id.f58} {userid}").out
    assert listed == f"{jobid} {guest.pw_uid}\n"
    # signed with none by a guest: refused
    assert guest_flux(guest, "submit", "true", confdir=nonesign) == (
        1, "", "[Errno 1] only instance owner can use sign-type=none\n")
    # the owner may sign with none (as flux-core's ingest allows)
    assert broker.flux("submit", "--urgency=hold", "true",
                       env=dict(broker.env,
                                FLUXD_SECURITY_CONF_DIR=nonesign)).rc == 0
    # a J the guest signed, submitted by the owner
    rc, out, err = mu.python_as(guest, ["-c", SIGN_SCRIPT, munge,
                                        str(guest.pw_uid)])
    assert rc == 0, err
    from fluxd.client.sync import Flux
    from fluxd.errors import FluxError
    with Flux(broker.uri) as h:
        with pytest.raises(FluxError) as caught:
            h.rpc("job-ingest.submit", {"J": out.strip(), "urgency": 16,
                                        "flags": 0})
    assert str(caught.value) == \
        f"signer={guest.pw_uid} != requestor={os.getuid()}"
    # munged unreachable: one line, no traceback
    broken = mu.security("broken", socket=f"{mu.socket}.missing",
                         max_ttl=10)
    rc, out, err = guest_flux(guest, "submit", "true", confdir=broken)
    assert rc == 1 and len(err.splitlines()) == 1
    assert "sign-munge-sign: Failed to access" in err
