"""``flux update`` by a real guest user on a real broker: the guest's own
munge-signed job may be changed within the limits that applied at
submission; above them, on another user's job, or after an instance
owner update, it is refused (root only: real users, a private munged)."""

import os

from tests.integration.multiuser import NEEDS_ROOT_AND_MUNGE

pytestmark = NEEDS_ROOT_AND_MUNGE

CONFIG = """\
[access]
allow-guest-user = true

[policy.limits]
duration = "1h"
"""


def test_guest_updates_own_job_within_limits(multiuser, broker_factory):
    mu = multiuser
    munge = mu.security("munge")
    rundir = mu.rundir("b")
    config = mu.path("system.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    broker = broker_factory(
        config_path=config, name="b",
        attrs={"rundir": rundir, "local-uri": f"local://{rundir}/local"},
        env=dict(os.environ, FLUXD_SECURITY_CONF_DIR=munge))

    def flux_as(user, *argv):
        return mu.flux_as(user, broker.uri, *argv, confdir=munge)

    def row(jobid):
        return broker.flux("jobs", "-a", "-A", "-n", "--format={name}"
                           " {duration} {urgency}", jobid).out.strip()

    alice, bob = mu.user(), mu.user()
    rc, out, err = flux_as(alice, "submit", "--urgency=hold", "-t", "10m",
                           "--job-name=a", "true")
    assert (rc, err) == (0, "")
    job = out.strip()
    # within the limit: applied, and shown by flux jobs
    assert flux_as(alice, "update", job, "duration=30m", "name=mine") == (
        0, "", "")
    assert row(job) == "mine 1800.0 0"
    # over the limit, or above the default urgency: nothing applied
    assert flux_as(alice, "update", job, "name=x", "duration=2h") == (
        1, "", "flux-update: ERROR: requested duration (2h) exceeds policy"
        " limit of 1h\n")
    assert flux_as(alice, "update", job, "name=x", "urgency=20") == (
        1, "", "flux-update: ERROR: guests can only adjust urgency <="
        " default\n")
    assert row(job) == "mine 1800.0 0"
    # another guest may not touch it
    assert flux_as(bob, "update", job, "name=bobs") == (
        1, "", "flux-update: ERROR: guests may only update their own"
        " jobs\n")
    # the owner goes past the limit; the job is then immutable
    assert broker.flux("update", job, "duration=3h").rc == 0
    assert row(job) == "mine 10800.0 0"
    assert flux_as(alice, "update", job, "name=again") == (
        1, "", "flux-update: ERROR: job is immutable due to previous"
        " instance owner update\n")
    assert broker.flux("cancel", job).rc == 0
