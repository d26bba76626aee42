"""``flux job-validator`` reading jobs on stdin (flux-core's test mode
for site plugins), ``--jobspec-only``, feasibility through the client."""

import errno
import io
import json
import textwrap

import pytest

from fluxd.cli.cmd_job_plugins import validate_lines, validator_main
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats.jobspec import from_command

SITE = textwrap.dedent("""
    import errno

    class Validator:
        def __init__(self, parser):
            parser.add_argument("--max-tasks", type=int, default=2)

        def configure(self, args):
            self.max = args.max_tasks

        def validate(self, job):
            if len(job.jobspec["tasks"]) and job.urgency > 20:
                return errno.EPERM, "too urgent"
            return None
""")


def run(argv, lines, router=None):
    out = io.StringIO()
    rc = validate_lines(argv, lines, out, router)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


def job(**extra):
    return json.dumps(dict({"jobspec": from_command(["true"]),
                            "userid": 1000, "flags": 0, "urgency": 16},
                           **extra))


def test_jobspec_only_and_exit_code():
    good = json.dumps(from_command(["true"]))
    assert run(["--jobspec-only"], [good]) == (0, [{"errnum": 0}])
    rc, results = run(["--jobspec-only"], [good, '{"version": 1}'])
    assert rc == 1 and results[0] == {"errnum": 0}
    assert results[1]["errnum"] == errno.EINVAL and results[1]["errstr"]


def test_full_lines_and_site_plugin(tmp_path):
    path = tmp_path / "site.py"
    path.write_text(SITE)
    argv = [f"--plugins=jobspec,{path}", "--max-tasks=3"]
    rc, results = run(argv, [job(), job(urgency=25)])
    assert rc == 0    # only --jobspec-only fails the exit code
    assert results == [{"errnum": 0},
                       {"errnum": errno.EPERM, "errstr": "too urgent"}]


@pytest.mark.parametrize("line, message", [
    ("nope", "line 1: not JSON"),
    ("[1]", "line 1: expected a JSON object"),
    ('{"jobspec": {}}', "line 1: Missing keys: userid, flags, urgency"),
])
def test_bad_lines(line, message):
    with pytest.raises(InvalidArgument, match=message):
        run([], [line])


class Router:
    def __init__(self, error=None):
        self.error, self.calls = error, []

    def call(self, topic, payload, cred=None):
        self.calls.append(topic)
        error = self.error

        class Now:
            def __await__(self):
                if error is not None:
                    raise error
                return {}
                yield
        return Now()


def test_feasibility_asks_the_instance():
    router = Router(FluxError("Unsatisfiable request", errnum=errno.ENODEV))
    rc, results = run(["--plugins=feasibility"], [job()], router)
    assert results == [{"errnum": errno.ENODEV,
                        "errstr": "Unsatisfiable request"}]
    assert router.calls == ["feasibility.check"]
    rc, results = run(["--plugins=feasibility"], [job()],
                      Router(FluxError("x", errnum=errno.ENOSYS)))
    assert results == [{"errnum": 0}]


def test_list_plugins_and_unknown_plugin():
    out = io.StringIO()
    assert validator_main(["--list-plugins"], out=out) == 0
    assert out.getvalue().startswith("Available plugins:\n")
    with pytest.raises(InvalidArgument,
                       match="validator plugin 'nope' not found"):
        run(["--plugins=nope"], [])
