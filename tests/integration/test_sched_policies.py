"""Hand-checked schedules of the queue and match policies on real
4- and 16-broker instances under test execution (after flux-sched's t1003,
t1006, t1021): fcfs blocking, EASY starting a short job ahead of a
blocked wide job without delaying it, conservative keeping every
reservation, lonodex packing, per-queue policies, drained nodes
skipped, and ``flux jobs`` showing the estimate (``eta:``)."""

import pytest

from fluxd.formats import hostlist

from tests.integration.resource_helpers import (
    flux_start, out, sections, write_config)

pytestmark = pytest.mark.slow

NODES = """\
[resource]
noverify = true

[[resource.config]]
hosts = "test[1-4]"
cores = "0-3"

"""

EASY_TOML = NODES + """\
[ingest.validator]
plugins = [ "jobspec", "feasibility" ]

[sched-fluxion-qmanager]
queue-policy = "easy"

[sched-fluxion-resource]
match-policy = "lonodex"
"""

QUEUES_TOML = NODES + """\
[[resource.config]]
hosts = "test[1-2]"
properties = ["debug"]

[[resource.config]]
hosts = "test[3-4]"
properties = ["batch"]

[queues.debug]
requires = ["debug"]

[queues.batch]
requires = ["batch"]

[policy.jobspec.defaults.system]
queue = "debug"

[sched-fluxion-qmanager]
queue-policy-per-queue = "debug:fcfs batch:conservative"
"""

TEST = "--setattr=system.exec.test.run_duration="

PRELUDE = f'''
def sub(*args):
    return flux("submit", *args[:-1], "{TEST}" + args[-1],
                "true").stdout.strip()

def wait(jobid, event="start"):
    return flux("job", "wait-event", "-t", "60", jobid, event)

def order(*jobs):
    """The jobs by start time (t_run), with their nodes."""
    p = flux("jobs", "-ano", "{{id.f58}} {{t_run}} {{nodelist}}")
    rows = dict((line.split()[0], line.split()[1:])
                for line in p.stdout.splitlines())
    got = sorted(jobs, key=lambda j: float(rows[j][0]))
    print(" ".join(f"{{jobs.index(j)}}:{{rows[j][1]}}" for j in got))
'''

EASY_SCRIPT = PRELUDE + '''
flux("queue", "start", "--all")
# refused at submission by the feasibility validator, with the reason
show("too-many", "submit", "-N5", "true")
show("no-gpus", "submit", "-g1", "true")
show("no-such-property", "submit", "--requires=nosuch", "true")
show("bad-constraint", "submit", '--setattr=system.constraints={"frob": []}',
     "true")
# A: 3 nodes for 100 s (runs 4 s); B: 4 nodes, blocked behind A; C: one
# node, 50 s: fits before B's reservation; D: one node, 200 s: would
# delay B, so it waits
a = sub("-N3", "-t", "100s", "4s")
b = sub("-N4", "-t", "10s", "1s")
c = sub("-N1", "-t", "50s", "0.2s")
d = sub("-N1", "-t", "200s", "0.2s")
wait(c)
show("pending", "jobs", "-no", "{name} {status} {contextual_info}", b, d)
show("reason", "jobs", "-no", "{sched.reason_pending}", b, d)
for j in (a, b, c, d):
    wait(j, "clean")
print("== easy-order rc=0")
order(a, b, c, d)
# lonodex: four one-core jobs take the four nodes; a fifth waits
ones = [sub("-n1", "-t", "1m", "1h") for _ in range(5)]
for j in ones[:4]:
    wait(j)
show("packed", "jobs", "-no", "{nodelist} {status}", *ones)
flux("cancel", *ones)
for j in ones:
    wait(j, "clean")
# a drained node is skipped; undrained, it is used again
show("drain", "resource", "drain", "test2", "maintenance")
two = [sub("-N1", "-t", "1m", "1h") for _ in range(4)]
for j in two[:3]:
    wait(j)
show("skipped", "jobs", "-no", "{nodelist} {status}", *two)
show("undrain", "resource", "undrain", "test2")
wait(two[3])
show("undrained", "jobs", "-no", "{nodelist}", two[3])
flux("cancel", *two)
'''

QUEUES_SCRIPT = PRELUDE + '''
flux("queue", "start", "--all")
# debug (fcfs) on test[1-2]: B blocks C even though C would fit
a = sub("-N1", "-t", "100s", "3s")
b = sub("-N2", "-t", "10s", "0.5s")
c = sub("-N1", "-t", "5s", "0.2s")
# batch (conservative) on test[3-4]: every blocked job gets an estimate
x = sub("-q", "batch", "-N2", "-t", "100s", "3s")
y = sub("-q", "batch", "-N2", "-t", "10s", "0.5s")
z = sub("-q", "batch", "-N1", "-t", "60s", "0.5s")
wait(a)
wait(x)
show("queued", "jobs", "-no", "{queue} {status} {sched.t_estimate!d:%s}",
     b, c, y, z)
for j in (a, b, c, x, y, z):
    wait(j, "clean")
print("== debug-order rc=0")
order(a, b, c)
print("== batch-order rc=0")
order(x, y, z)
# reload: an unknown policy is refused naming the key; then debug: easy
conf = os.path.join("conf.d", "sched.toml")
text = open(conf).read()
with open(conf, "w") as f:
    f.write(text.replace("debug:fcfs", "debug:lifo"))
show("reload-bad", "config", "reload")
with open(conf, "w") as f:
    f.write(text.replace("debug:fcfs", "debug:easy"))
show("reload", "config", "reload")
a = sub("-N1", "-t", "100s", "3s")
b = sub("-N2", "-t", "10s", "0.5s")
c = sub("-N1", "-t", "5s", "0.2s")
for j in (a, b, c):
    wait(j, "clean")
print("== debug-easy-order rc=0")
order(a, b, c)
'''


WIDE_TOML = EASY_TOML.replace('hosts = "test[1-4]"', 'hosts = "test[1-16]"')

WIDE_SCRIPT = PRELUDE + '''
flux("queue", "start", "--all")
# A: 12 nodes for 100 s (runs 4 s); B: all 16, blocked behind A; C: 4
# nodes for 50 s fits on the other four before B's reservation; D: 2
# nodes for 200 s would delay B, so it waits for B
a = sub("-N12", "-t", "100s", "4s")
b = sub("-N16", "-t", "10s", "1s")
c = sub("-N4", "-t", "50s", "0.2s")
d = sub("-N2", "-t", "200s", "0.2s")
wait(c)
show("wide-pending", "jobs", "-no", "{status}", b, d)
for j in (a, b, c, d):
    wait(j, "clean")
show("wide-nodes", "jobs", "-no", "{nodelist}", a, b, c, d)
print("== wide-order rc=0")
order(a, b, c, d)
# lonodex: sixteen one-core jobs take one node each; the 17th waits
ones = [sub("-n1", "-t", "1m", "1h") for _ in range(17)]
for j in ones[:16]:
    wait(j)
show("wide-packed", "jobs", "-no", "{nodelist} {status}", *ones)
flux("cancel", *ones)
for j in ones:
    wait(j, "clean")
'''


def run(tmp_path_factory, name, toml, script, size=4):
    tmp = tmp_path_factory.mktemp(name)
    conf = write_config(tmp / "conf.d", sched=toml)
    proc = flux_start(tmp, script, f"--config-path={conf}", size=size,
                      hosts=f"test[1-{size}]", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sections(proc.stdout)


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return run(tmp_path_factory, "easy", EASY_TOML, EASY_SCRIPT)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return run(tmp_path_factory, "wide", WIDE_TOML, WIDE_SCRIPT, size=16)


@pytest.fixture(scope="module")
def queues(tmp_path_factory):
    return run(tmp_path_factory, "queues", QUEUES_TOML, QUEUES_SCRIPT)


def test_easy_backfills_the_short_job_only(easy):
    lines = out(easy, "pending").splitlines()
    assert lines[0].startswith("true SCHED eta:"), lines
    assert lines[1] == "true SCHED ", lines
    assert out(easy, "reason") == ("insufficient resources\n"
                                   "insufficient resources\n")
    # A, then C (backfilled on test4), B when A ends, D after B
    assert out(easy, "easy-order").split() == [
        "0:test[1-3]", "2:test4", "1:test[1-4]", "3:test1"]


def test_infeasible_jobs_are_refused_with_the_reason(easy):
    for label, reason in [
            ("too-many", "[Errno 75] unsatisfiable request\n"),
            ("no-gpus", "[Errno 75] unsatisfiable request\n"),
            ("no-such-property", "[Errno 75] no resources satisfy provided"
                                 " constraints\n")]:
        assert out(easy, label, rc=1) == reason, label
    text = out(easy, "bad-constraint", rc=1)
    assert text.startswith("[Errno 22] ") and "frob" in text, text
    assert len(text.splitlines()) == 1, text


def test_lonodex_packs_whole_nodes(easy):
    rows = out(easy, "packed").splitlines()
    assert sorted(rows[:4]) == [f"test{i} RUN" for i in range(1, 5)]
    assert rows[4] == " SCHED"


def test_drained_node_is_skipped(easy):
    rows = out(easy, "skipped").splitlines()
    assert sorted(rows[:3]) == ["test1 RUN", "test3 RUN", "test4 RUN"]
    assert rows[3] == " SCHED"
    assert out(easy, "undrained") == "test2\n"


def test_reload_changes_the_policy(queues):
    text = out(queues, "reload-bad", rc=1)
    assert "sched-fluxion-qmanager.queue-policy-per-queue" in text, text
    assert "lifo" in text and len(text.splitlines()) == 1, text
    out(queues, "reload")
    # debug is easy now: C backfills ahead of the blocked B (first: A
    # took the higher debug node, test2)
    assert out(queues, "debug-easy-order").split() == [
        "0:test2", "2:test1", "1:test[1-2]"]


def test_per_queue_fcfs_and_conservative(queues):
    rows = out(queues, "queued").splitlines()
    # fcfs: no estimates
    assert rows[:2] == ["debug SCHED ", "debug SCHED "], rows
    # conservative: both blocked batch jobs have an estimate
    assert rows[2].split()[:2] == ["batch", "SCHED"] and \
        float(rows[2].split()[2]) > 0, rows
    assert float(rows[3].split()[2]) >= float(rows[2].split()[2]), rows
    # fcfs: C waits behind B although a debug node was free (first: the
    # highest node of the queue's, test2 or test4, when one will do)
    assert out(queues, "debug-order").split() == [
        "0:test2", "1:test[1-2]", "2:test2"]
    assert out(queues, "batch-order").split() == [
        "0:test[3-4]", "1:test[3-4]", "2:test4"]


def test_easy_and_lonodex_on_sixteen_brokers(wide):
    assert out(wide, "wide-pending") == "SCHED\nSCHED\n"
    a, b, c, d = (list(hostlist.decode(line)) for line in
                  out(wide, "wide-nodes").splitlines())
    assert (len(a), len(b), len(c), len(d)) == (12, 16, 4, 2)
    # C backfilled on exactly the four nodes A left free
    assert not set(a) & set(c) and len(set(a) | set(c)) == 16
    # A and C, then B when A ends, then D after B
    order = [item.split(":")[0] for item in out(wide, "wide-order").split()]
    assert order in (["0", "2", "1", "3"], ["2", "0", "1", "3"]), order
    rows = out(wide, "wide-packed").splitlines()
    assert sorted(r.split()[0] for r in rows[:16]) == sorted(
        f"test{i}" for i in range(1, 17))
    assert all(r.endswith(" RUN") for r in rows[:16]), rows
    assert rows[16] == " SCHED"
