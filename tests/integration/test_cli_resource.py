"""Real-process checks of ``flux resource`` on saved resource data
(``--from-stdin``), through the installed ``flux`` console script."""

import os

from fluxd.testing.cli import run_flux_process
from tests import VECTORS as ALL_VECTORS

VECTORS = os.path.join(ALL_VECTORS, "flux-resource")


def read(*path):
    with open(os.path.join(VECTORS, *path)) as f:
        return f.read()


def env(tmp_path):
    environ = dict(os.environ, TZ="UTC", XDG_CONFIG_HOME=str(tmp_path),
                   XDG_CONFIG_DIRS=str(tmp_path / "none"))
    environ.pop("FLUX_RESOURCE_STATUS_FORMAT_DEFAULT", None)
    return environ


def test_status_vector(tmp_path):
    result = run_flux_process(
        ["resource", "status", "-o",
         "{state:>10} {nnodes:>6} {ranks:<15} {nodelist}", "--from-stdin"],
        stdin=read("status", "fluke.json"), env=env(tmp_path))
    assert (result.rc, result.err) == (0, "")
    assert result.out == read("status", "fluke.expected")


def test_default_list_with_queue_config(tmp_path):
    result = run_flux_process(
        ["resource", "list", "-s", "down", "--from-stdin", "--config-file",
         os.path.join(VECTORS, "list", "fluke.config")],
        stdin=read("list", "fluke.json"), env=env(tmp_path))
    assert (result.rc, result.err) == (0, "")
    assert result.out == (
        "     STATE QUEUE NNODES NCORES NGPUS NODELIST\n"
        "      down batch     10     40     0 "
        "fluke[17-18,24,43,61,65,76-77,79,92]\n"
        "      down debug      3     12     0 fluke[97-98,103]\n")


def test_invalid_state_is_one_line(tmp_path):
    result = run_flux_process(
        ["resource", "status", "-s", "frelled", "--from-stdin"],
        env=env(tmp_path))
    assert (result.rc, result.out) == (1, "")
    assert result.err == ("flux-resource: Invalid resource state frelled"
                          " specified\n")
