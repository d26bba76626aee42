"""Real-process checks of ``flux R``: pipelines through the installed
``flux`` console script, as t0026 runs them."""

import json

from fluxd.testing.cli import run_flux_process
from fluxd.testing.guide import RESOURCE_CONFIG

ADMIN_GUIDE_TOML = RESOURCE_CONFIG


def test_parse_config_pipeline(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "resource.toml").write_text(ADMIN_GUIDE_TOML)
    parsed = run_flux_process(["R", "parse-config", str(conf)])
    assert (parsed.rc, parsed.err) == (0, "")
    assert json.loads(parsed.out)["execution"]["nodelist"] == ["test[1-16]"]
    short = run_flux_process(["R", "decode", "--short"], stdin=parsed.out)
    assert (short.rc, short.out, short.err) == (
        0, "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]\n", "")


def test_encode_append_decode_pipeline():
    first = run_flux_process(["R", "encode", "-r", "0-1", "-c", "0-1"])
    second = run_flux_process(["R", "encode", "-r", "1-2", "-c", "2-3"])
    assert first.rc == second.rc == 0
    appended = run_flux_process(["R", "append"], stdin=first.out + second.out)
    assert appended.rc == 0
    short = run_flux_process(["R", "decode", "--short"], stdin=appended.out)
    assert short.out == "rank0/core[0-1] rank1/core[0-3] rank2/core[2-3]\n"


def test_bad_config_is_one_line_exit_1(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    toml = conf / "resource.toml"
    toml.write_text('[[resource.config]]\nhosts = "foo[0-3]"\ncores = "0-3"\n'
                    '[[resource.config]]\nhosts = "foo1"\ncores = "3"\n')
    result = run_flux_process(["R", "parse-config", str(conf)])
    assert (result.rc, result.out) == (1, "")
    assert result.err == (f"flux-R: {toml}: resource.config[1]: core 3 of"
                          " host foo1 is already configured\n")
    bad = run_flux_process(["R", "decode"], stdin='{"version": 2}')
    assert (bad.rc, bad.err) == (
        1, "flux-R: Failed to decode R on stdin: invalid version=2\n")
