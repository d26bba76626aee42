"""Real-process checks of ``flux job id``: locale-driven f58 prefix, stdin, errors."""

import os

from fluxd.testing.cli import run_flux_process


def _env(**overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLUX_F58_FORCE_ASCII", "LC_ALL", "LC_CTYPE", "LANG")}
    env.update(overrides)
    return env


def test_f58_prefix_follows_locale_and_force_ascii():
    utf8 = run_flux_process(["job", "id", "--to=f58", "1"], env=_env(LC_ALL="C.UTF-8"))
    assert (utf8.rc, utf8.out, utf8.err) == (0, "ƒ2\n", "")
    ascii_locale = run_flux_process(["job", "id", "--to=f58", "1"], env=_env(LC_ALL="C"))
    assert (ascii_locale.rc, ascii_locale.out) == (0, "f2\n")
    forced = run_flux_process(["job", "id", "--to=f58", "1"],
                              env=_env(LC_ALL="C.UTF-8", FLUX_F58_FORCE_ASCII="1"))
    assert (forced.rc, forced.out) == (0, "f2\n")
    plain = run_flux_process(["job", "id", "--to=f58plain", "1"], env=_env(LC_ALL="C.UTF-8"))
    assert plain.out == "f2\n"


def test_stdin_every_encoding_to_dec_and_emoji():
    ids = ["18446744073709551615", "0xffffffffffffffff", "job.ffff.ffff.ffff.ffff",
           "ffff.ffff.ffff.ffff", "natural-analyze-verbal--natural-analyze-verbal",
           "fjpXCZedGfVQ", "ƒjpXCZedGfVQ", "🚹💗💧👗😷📷📚"]
    result = run_flux_process(["job", "id"], stdin="\n".join(ids) + "\n",
                              env=_env(LC_ALL="C.UTF-8"))
    assert (result.rc, result.out, result.err) == (0, "18446744073709551615\n" * len(ids), "")
    emoji = run_flux_process(["job", "id", "--to=emoji", "0", "65535"],
                             env=_env(LC_ALL="C.UTF-8"))
    assert (emoji.rc, emoji.out) == (0, "😃\n💁📚\n")


def test_errors_and_exit_codes():
    bad = run_flux_process(["job", "id", "42", "meep"], env=_env())
    assert (bad.rc, bad.out, bad.err) == (1, "42\n", "flux-job: meep: malformed input\n")
    unknown = run_flux_process(["job", "id", "--to=invalid", "42"], env=_env())
    assert (unknown.rc, unknown.out, unknown.err) == (1, "", "flux-job: Unknown to=invalid\n")
    empty = run_flux_process(["job", "id"], stdin="", env=_env())
    assert (empty.rc, empty.out, empty.err) == (1, "", "")
