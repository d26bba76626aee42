"""``-Sresource.monitor-force-up`` on a real 1-broker instance whose
config names 64 nodes: every node is up and allocatable although no
broker runs for 63 of them (test execution runs the jobs), as flux-core's
resource module option; without it those nodes are down and a job that
needs them waits."""

from tests.integration.resource_helpers import (
    flux_start, out, sections, write_config)

TOML = """\
[resource]
noverify = true

[[resource.config]]
hosts = "test[1-64]"
cores = "0-3"
"""

LIST = '''
show("list", "resource", "list", "-no", "{state} {nnodes} {nodelist}")
jobid = flux("submit", "-N64", "--setattr=system.exec.test.run_duration=0.1s",
             "true").stdout.strip()
'''

FORCED = LIST + '''
flux("job", "wait-event", "-t", "60", jobid, "clean")
show("job", "jobs", "-no", "{nodelist} {result}", jobid)
'''

PLAIN = LIST + '''
show("job", "jobs", "-no", "{status}", jobid)
flux("cancel", jobid)
'''


def run(tmp_path, script, *opts):
    conf = write_config(tmp_path / "conf.d", resource=TOML)
    proc = flux_start(tmp_path, script, f"--config-path={conf}", *opts,
                      size=1, hosts="test1", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sections(proc.stdout)


def test_every_configured_node_is_up_and_allocatable(tmp_path):
    steps = run(tmp_path, FORCED, "-Sresource.monitor-force-up")
    rows = out(steps, "list").splitlines()
    assert rows[0] == "free 64 test[1-64]", rows
    assert [r.split()[:2] for r in rows[1:]] == [["allocated", "0"],
                                                 ["down", "0"]], rows
    assert out(steps, "job") == "test[1-64] COMPLETED\n"


def test_without_it_nodes_without_a_broker_are_down(tmp_path):
    steps = run(tmp_path, PLAIN)
    rows = out(steps, "list").splitlines()
    assert rows[0] == "free 1 test1", rows
    assert rows[2] == "down 63 test[2-64]", rows
    assert out(steps, "job") == "SCHED\n"
