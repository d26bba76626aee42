"""Resources without configuration are discovered broker by broker; with
configuration each broker checks its share against its node at join and
drains itself when it falls short."""

import os

from tests.integration.resource_helpers import (
    flux_start, sections, write_config)


def local_counts():
    """Cores and GPUs a broker of this host discovers."""
    cores = len(os.sched_getaffinity(0))
    try:
        gpus = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        gpus = 0
    return cores, gpus


def ids(count):
    return "0" if count == 1 else f"0-{count - 1}"


def test_no_config_discovers_this_host(tmp_path):
    script = '''
show("info", "resource", "info")
p = subprocess.run(f"{FLUX} resource R | {FLUX} R decode --short",
                   shell=True, capture_output=True, text=True)
print("== short rc=%d" % p.returncode)
sys.stdout.write(p.stdout + p.stderr)
show("list", "resource", "list", "-s", "free", "-no",
     "{nnodes} {ncores} {ngpus} {nodelist}")
show("define", "resource", "eventlog", "-f", "json", "-w", "resource-define")
'''
    proc = flux_start(tmp_path, script, size=3, hosts="node[0-2]")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = sections(proc.stdout)
    cores, gpus = local_counts()
    assert steps["info"] == (0, f"3 Nodes, {3 * cores} Cores,"
                                f" {3 * gpus} GPUs\n")
    node = f"core[{ids(cores)}]" if cores > 1 else "core0"
    if gpus:
        node += f",gpu[{ids(gpus)}]" if gpus > 1 else ",gpu0"
    assert steps["short"] == (0, f"rank[0-2]/{node}\n")
    assert steps["list"] == (0, f"3 {3 * cores} {3 * gpus} node[0-2]\n")
    last = steps["define"][1].splitlines()[-1]
    assert '"name":"resource-define"' in last
    assert '"context":{"method":"dynamic-discovery"}' in last


def test_short_nodes_drain_themselves(tmp_path):
    # far more cores than any test host has: both brokers fall short
    conf = write_config(tmp_path / "conf.d", resources='''
[[resource.config]]
hosts = "test[1-2]"
cores = "0-4095"
''')
    script = '''
p = flux("resource", "eventlog", "-w", "drain", "-m", 'idset="1"',
         "-t", "60")
print("== waited rc=%d" % p.returncode)
show("drained", "resource", "drain", "-no", "{ranks}|{reason}")
show("list", "resource", "list", "-no", "{state} {nnodes} {nodelist}")
'''
    proc = flux_start(tmp_path, script, f"--config-path={conf}", size=2,
                      hosts="test[1-2]")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = sections(proc.stdout)
    assert steps["waited"][0] == 0
    cores, _ = local_counts()
    missing = f"core[{cores}-4095]"
    assert steps["drained"] == (0, (
        f"0|rank 0 (test1) missing resources: {missing}\n"
        f"1|rank 1 (test2) missing resources: {missing}\n"))
    assert steps["list"] == (0, "free 0 \nallocated 0 \ndown 2 test[1-2]\n")
