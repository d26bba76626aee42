"""Job shell plugins on real brokers: PMI across two brokers, cpu and
gpu affinity from R, site plugins from ``conf.shell_pluginpath``, and
the clear end of a job whose plugin or PMI client misbehaves."""

import os
import re
import socket
import subprocess
import sys

from fluxd.testing.cli import flux_executable

CLIENT = os.path.join(os.path.dirname(__file__), "pmi_client.py")
STATUS = ["grep", "Cpus_allowed_list", "/proc/self/status"]


def lines(result):
    return sorted(result.out.splitlines())


def test_pmi_exchange_on_two_brokers(tmp_path):
    proc = subprocess.run(
        [flux_executable(), "start", "--test-size=2", flux_executable(),
         "run", "-N2", "-n4", "-l", sys.executable, CLIENT],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # two tasks on each broker, each read all four cards, from both
    assert sorted(proc.stdout.splitlines()) == [
        f"{r}: {r}/4 ok rank-{r // 2} rank-0,rank-1 4" for r in range(4)]


def test_pmi_misuse_ends_the_job(broker):
    result = broker.flux("run", "-n2", sys.executable, CLIENT, "garbage")
    assert result.rc != 0
    assert re.search(r"type=exec severity=0 pmi: task [01]: protocol"
                     r" error: b'\\x00this is not pmi'", result.err)
    result = broker.flux("run", "-n2", sys.executable, CLIENT, "abort")
    assert result.rc != 0
    assert re.search(r"type=exec severity=0 task ([01]): PMI_Abort:"
                     r" rank-\1-gives-up", result.err)
    result = broker.flux("run", "-o", "pmi=cray-pals", "true")
    assert result.rc == 1
    assert "pmi: unsupported PMI implementation 'cray-pals'" in result.err


def test_pmi_off_and_flux_spellings(broker):
    show = ["sh", "-c", "echo ${PMI_FD+fd} ${PMI_RANK-} ${PMI_SIZE-}"
            " ${PMI_SPAWNED-}"]
    result = broker.flux("run", "-n2", "-l", "-o", "pmi=off", *show)
    assert lines(result) == ["0: ", "1: "]
    for value in ("simple", "pmi1,pmi2"):
        result = broker.flux("run", "-n2", "-l", "-o", f"pmi={value}", *show)
        assert lines(result) == ["0: fd 0 2 0", "1: fd 1 2 0"], result


def test_cpu_affinity(broker):
    # the test broker's R holds the machine's cores, 0-1 here
    result = broker.flux("run", "-n2", "-l", "-o", "cpu-affinity=per-task",
                         *STATUS)
    assert lines(result) == ["0: Cpus_allowed_list:\t0",
                             "1: Cpus_allowed_list:\t1"], result
    # on, the default: the job's cores on the node (the scheduler's
    # first policy takes the highest core id, as Fluxion's)
    result = broker.flux("run", "-n1", *STATUS)
    assert lines(result) == ["Cpus_allowed_list:\t1"]
    result = broker.flux("run", "-n1", "-c2", "-o", "cpu-affinity=on",
                         *STATUS)
    assert lines(result) == ["Cpus_allowed_list:\t0-1"]
    result = broker.flux("run", "-o", "cpu-affinity=sideways", "true")
    assert result.rc == 1
    assert "cpu-affinity: invalid option 'sideways'" in result.err


def test_gpu_affinity_from_R(broker_factory, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "resource.toml").write_text(
        '[resource]\nnoverify = true\n\n[[resource.config]]\n'
        f'hosts = "{socket.gethostname()}"\ncores = "0-1"\ngpus = "0-3"\n')
    broker = broker_factory(config_path=str(conf))
    show = ["sh", "-c", "echo $CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER"]
    result = broker.flux("run", "-n2", "-g2", "-l", *show)
    assert lines(result) == ["0: 0,1,2,3 PCI_BUS_ID",
                             "1: 0,1,2,3 PCI_BUS_ID"]
    result = broker.flux("run", "-n2", "-g2", "-l", "-o",
                         "gpu-affinity=per-task", *show)
    assert lines(result) == ["0: 0,1 PCI_BUS_ID", "1: 2,3 PCI_BUS_ID"]
    result = broker.flux("run", "-n1", "-g1", "-o", "gpu-affinity=off",
                         *show)
    assert lines(result) == [""]


SITE = '''
def flux_plugin_init(p):
    def init(shell, topic, task):
        task.env["SITE"] = "site:" + str(p.getopt("site.word", "none"))
    p.add_handler("task.init", init)
'''

BROKEN = '''
def flux_plugin_init(p):
    def start(shell, topic, task):
        if p.getopt("break"):
            raise RuntimeError("the site plugin broke")
    p.add_handler("shell.start", start)
'''


def test_site_plugins_from_the_pluginpath(broker_factory, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "site.py").write_text(SITE)
    (plugins / "broken.py").write_text(BROKEN)
    broker = broker_factory(attrs={"conf.shell_pluginpath": str(plugins)})
    result = broker.flux("run", "-o", "site.word=hello", "sh", "-c",
                         "echo $SITE")
    assert (result.rc, result.out) == (0, "site:hello\n"), result
    # a plugin that raises ends the job (its tasks too) with the reason
    result = broker.flux("run", "-o", "break", "sleep", "30")
    assert result.rc != 0
    assert "type=exec severity=0 plugin 'broken': shell.start:" \
        " RuntimeError: the site plugin broke" in result.err
    # an initrc named by the attribute replaces the plugin path's set
    rc = tmp_path / "initrc.py"
    rc.write_text("plugin.load('site.py')\n")
    broker.flux("setattr", "conf.shell_initrc", str(rc))
    result = broker.flux("run", "-o", "break", "sh", "-c", "echo $SITE")
    assert (result.rc, result.out) == (0, "site:none\n"), result
