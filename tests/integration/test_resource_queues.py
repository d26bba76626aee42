"""The admin guide's queue example (debug and batch queues selected by
node properties) over the system example's nodes, on a real 16-broker
instance: the QUEUE column, ``-q`` filters, and a drained debug node."""

import subprocess

import pytest

from fluxd.testing.cli import flux_executable
from tests.integration.resource_helpers import (
    QUEUES_TOML, SYSTEM_TOML, flux_start, out, sections, write_config)

SCRIPT = '''
show("list", "resource", "list")
show("list-debug", "resource", "list", "-q", "debug")
show("status-batch", "resource", "status", "-q", "batch")
show("bad-queue", "resource", "list", "-q", "express")
show("drain", "resource", "drain", "test2", "bad", "cable")
show("list-drained", "resource", "list")
show("drain-batch", "resource", "drain", "-q", "batch", "-no", "{nodelist}")
show("drain-debug", "resource", "drain", "-q", "debug", "-no", "{nodelist}")
show("rlist", "resource", "list", "-o", "rlist", "-s", "free")
show("info-batch", "resource", "info", "-q", "batch")
'''


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queues")
    conf = write_config(tmp / "conf.d", queues=QUEUES_TOML)
    proc = flux_start(tmp, SCRIPT, f"--config-path={conf}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sections(proc.stdout)


def test_list_by_queue(steps):
    assert out(steps, "list") == (
        "     STATE QUEUE PROPERTIES NNODES NCORES NGPUS NODELIST\n"
        "      free debug                 4     32     4 test[1-4]\n"
        "      free batch                11     88    11 test[5-15]\n"
        "      free batch fatnode         1     64     2 test16\n"
        " allocated debug                 0      0     0 \n"
        " allocated batch                 0      0     0 \n"
        "      down debug                 0      0     0 \n"
        "      down batch                 0      0     0 \n")
    assert out(steps, "list-debug") == (
        "     STATE QUEUE NNODES NCORES NGPUS NODELIST\n"
        "      free debug      4     32     4 test[1-4]\n"
        " allocated debug      0      0     0 \n"
        "      down debug      0      0     0 \n")
    assert out(steps, "status-batch") == (
        "       STATE UP NNODES NODELIST\n"
        "       avail  ✔     12 test[5-16]\n")
    assert out(steps, "info-batch") == "12 Nodes, 152 Cores, 13 GPUs\n"
    assert out(steps, "bad-queue", rc=1) == (
        "flux-resource: --queue: express: no such queue\n")


def test_drained_debug_node(steps):
    assert out(steps, "drain") == ""
    assert out(steps, "list-drained") == (
        "     STATE QUEUE PROPERTIES NNODES NCORES NGPUS NODELIST\n"
        "      free debug                 3     24     3 test[1,3-4]\n"
        "      free batch                11     88    11 test[5-15]\n"
        "      free batch fatnode         1     64     2 test16\n"
        " allocated debug                 0      0     0 \n"
        " allocated batch                 0      0     0 \n"
        "      down debug                 1      8     1 test2\n")
    assert out(steps, "drain-batch") == ""
    assert out(steps, "drain-debug") == "test2\n"
    assert out(steps, "rlist") == (
        "     STATE QUEUE PROPERTIES NNODES NCORES NGPUS LIST\n"
        "      free debug                 3     24     3"
        " rank[0,2-3]/core[0-7],gpu0\n"
        "      free batch                11     88    11"
        " rank[4-14]/core[0-7],gpu0\n"
        "      free batch fatnode         1     64     2"
        " rank15/core[0-63],gpu[0-1]\n")


@pytest.mark.parametrize("text", [SYSTEM_TOML, QUEUES_TOML])
def test_parse_config_pipeline(tmp_path, text):
    """``flux R parse-config DIR | flux R decode --short`` (the guide's
    "Is the Flux resource configuration correct?")."""
    conf = write_config(tmp_path / "conf.d", system=text)
    flux = flux_executable()
    proc = subprocess.run(
        f"'{flux}' R parse-config '{conf}' | '{flux}' R decode --short",
        shell=True, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == \
        "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]\n"
