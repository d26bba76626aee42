"""A guest's job: its guest namespace ``job-<id>`` belongs to the guest,
who may read it while the job runs; another guest may not."""

import json

from tests.integration import test_exec_imp
from tests.integration.test_exec_imp import (  # noqa: F401 (fixture)
    _started_sleep, instance)

pytestmark = test_exec_imp.pytestmark


def test_guest_reads_its_own_namespace_only(instance, multiuser):
    i = instance
    jobid = _started_sleep(i)
    dec = i.broker.flux("job", "id", "--to=dec", jobid).out.strip()
    ns = f"job-{dec}"
    rc, out, err = i.flux("kvs", "get", "-N", ns, "exec.eventlog")
    assert rc == 0, err
    names = [json.loads(line)["name"] for line in out.splitlines() if line]
    assert names[:2] == ["init", "starting"]
    # nor the instance's primary namespace, nor another guest's job's
    rc, out, err = i.flux("kvs", "get", "job")
    assert rc != 0 and "Traceback" not in err
    other = multiuser.user("fluxo")
    rc, out, err = multiuser.flux_as(other, i.broker.uri, "kvs", "get",
                                     "-N", ns, "exec.eventlog")
    assert rc != 0 and "not permitted" in err and "Traceback" not in err, err
    rc, out, err = i.flux("cancel", jobid)
    assert rc == 0, err
    assert i.broker.flux("job", "wait-event", "-t", "60", jobid,
                         "clean").rc == 0
    assert ns not in i.broker.flux("kvs", "namespace", "list").out
    events = i.broker.flux("job", "eventlog", "-p", "exec", jobid).out
    assert events.splitlines()[-1].split()[1] == "done"
