"""Jobtap plugins and job dependencies on a real broker: a 1,000-job
``afterok`` chain runs in order, an ``afternotok`` branch is taken only on
failure, ``flux jobs`` shows ``depends:``, ``--begin-time`` holds a job,
and ``flux jobtap`` and ``[job-manager] plugins`` load site plugins."""

import json
import os
import re
import textwrap
import time

import pytest

from fluxd.client.sync import Flux
from fluxd.formats import fluid
from fluxd.formats.jobspec import from_command
from fluxd.security.sign import wrap_none

TEST = "--setattr=system.exec.test.run_duration=0"
FAIL = "--setattr=system.exec.test.wait_status=256"
F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")


def submit(broker, *argv):
    result = broker.flux("submit", *argv)
    assert result.rc == 0 and F58.match(result.out.strip()), result
    return result.out.strip()


def refused(broker, *argv):
    result = broker.flux(*argv)
    assert result.rc != 0 and result.out == "", result
    assert len(result.err.splitlines()) == 1, result
    return result.err


def rows(broker, fmt, *ids):
    result = broker.flux("jobs", "-a", "-no", fmt, *ids)
    assert result.rc == 0, result
    return result.out.splitlines()


@pytest.mark.slow
def test_chain_of_1000_afterok_jobs_runs_in_order(broker):
    count = 1000
    ids = []
    began = time.monotonic()
    with Flux(broker.uri) as h:
        for _ in range(count):
            jobspec = from_command(["true"], environment={}, cwd="/")
            system = jobspec["attributes"]["system"]
            system["exec"] = {"test": {"run_duration": 0}}
            if ids:
                system["dependencies"] = [{
                    "scheme": "afterok",
                    "value": fluid.encode(ids[-1], "f58")}]
            signed = wrap_none(json.dumps(jobspec).encode(), os.getuid())
            ids.append(h.rpc("job-ingest.submit", {
                "J": signed, "urgency": 16, "flags": 0})["id"])
        submitted = time.monotonic()
        result = broker.flux("job", "wait-event", "-t", "300",
                             fluid.encode(ids[-1], "f58"), "clean",
                             timeout=320)
        assert result.rc == 0, result
        done = time.monotonic()
        answer = h.rpc("job-list.list", {
            "max_entries": 0, "states": 64, "results": 0, "userid": 0xFFFFFFFF,
            "attrs": ["t_run", "t_inactive", "result"]})
    print(f"\n1000-job afterok chain: submitted in {submitted - began:.1f}s,"
          f" all ran in {done - began:.1f}s")
    jobs = {job["id"]: job for job in answer["jobs"]}
    assert set(ids) <= set(jobs)
    assert all(jobs[j]["result"] == 1 for j in ids)
    for before, after in zip(ids, ids[1:]):
        # each job ran only once the one before it was inactive
        assert jobs[after]["t_run"] >= jobs[before]["t_inactive"]


def test_afternotok_branch_taken_only_on_failure(broker):
    # held until every dependent is submitted
    failing = submit(broker, "--urgency=hold", TEST, FAIL, "true")
    passing = submit(broker, "--urgency=hold", TEST, "true")
    on_fail = [submit(broker, TEST, f"--dependency=afternotok:{t}",
                      f"--job-name=notok-{n}", "true")
               for n, t in (("f", failing), ("p", passing))]
    on_ok = [submit(broker, TEST, f"--dependency=afterok:{t}",
                    f"--job-name=ok-{n}", "true")
             for n, t in (("f", failing), ("p", passing))]
    for target in (failing, passing):
        assert broker.flux("job", "urgency", target, "default").rc == 0
    result = broker.flux("queue", "drain", "--timeout=60s")
    assert result.rc == 0, result
    table = dict(line.split(" ", 1) for line in rows(
        broker, "{name} {result} {exception.type}", *on_fail, *on_ok))
    assert table == {"notok-f": "COMPLETED ", "notok-p": "FAILED dependency",
                     "ok-f": "FAILED dependency", "ok-p": "COMPLETED "}
    notes = rows(broker, "{exception.note}", on_ok[0])
    assert notes == [f"dependency after-success={failing} can never be"
                     " satisfied"]
    # a dependency on an inactive job that already failed the condition
    assert refused(broker, "submit", f"--dependency=afterok:{failing}",
                   "true") == (f"[Errno 22] dependency: afterok:"
                               f" job {failing} failed or was canceled\n")


def test_depends_shown_and_bad_dependencies(broker):
    running = submit(broker, "--setattr=system.exec.test.run_duration=1h",
                     "true")
    waiting = submit(broker, f"--dependency=afterany:{running}", "true")
    assert rows(broker, "{state} {contextual_info}", waiting) == [
        f"DEPEND depends:after-finish={running}"]
    later = submit(broker, "--begin-time=+1h", "true")
    [line] = rows(broker, "{state} {contextual_info}", later)
    assert re.match(r"^DEPEND depends:begin@(\w{5}-)?\d\d:\d\d(:\d\d)?$", line), line
    assert refused(broker, "submit", "--dependency=afterok:bogus",
                   "true") == ('[Errno 22] dependency: afterok:'
                               ' "bogus" is not a valid jobid\n')
    assert refused(broker, "submit", "--dependency=afterok:f1234",
                   "true") == ("[Errno 22] dependency: afterok:"
                               " id f1234: job not found\n")
    assert refused(broker, "submit", "--dependency=nosuch:1", "true") == (
        '[Errno 22] dependency scheme "nosuch" not supported\n')
    # the dependents first: canceling the target first would release them
    assert broker.flux("cancel", waiting, later).rc == 0
    assert broker.flux("cancel", running).rc == 0
    assert broker.flux("queue", "drain", "--timeout=60s").rc == 0
    assert rows(broker, "{result} {exception.type}", waiting) == [
        "CANCELED cancel"]


PLUGIN = """
    from fluxd.job.jobtap import JobtapError
    def validate(p, topic, args):
        if p.conf.get("deny"):
            raise JobtapError("denied by site policy")
    def plugin_init(p):
        p.register("job.validate", validate)
        p.register("plugin.query", lambda p, t, a: {"conf": p.conf})
"""


def test_flux_jobtap_commands(broker, tmp_path):
    path = tmp_path / "site_policy.py"
    path.write_text(textwrap.dedent(PLUGIN))
    assert broker.flux("jobtap", "list").out == ""
    assert broker.flux("jobtap", "list", "-a").out == (
        ".priority-default\n.limit-job-size\n.limit-duration\n"
        ".dependency-after\n.dependency-singleton\n.begin-time\n"
        ".validate-duration\n.update-duration\n.history\n.post-event\n"
        ".update-queue\n")
    result = broker.flux("jobtap", "load", str(path), "deny=true",
                         "name=x")
    assert (result.rc, result.out, result.err) == (0, "", ""), result
    assert broker.flux("jobtap", "list").out == "site_policy\n"
    query = json.loads(broker.flux("jobtap", "query", "site_policy").out)
    assert query["conf"] == {"deny": True, "name": "x"}
    assert query["path"] == str(path)
    assert refused(broker, "submit", "true") == (
        "[Errno 22] denied by site policy\n")
    assert broker.flux("jobtap", "load", "-r", "site_policy",
                       str(path)).rc == 0
    submit(broker, TEST, "true")
    assert broker.flux("jobtap", "remove", "all").rc == 0
    assert broker.flux("jobtap", "list").out == ""
    assert refused(broker, "jobtap", "remove", "site_policy") == (
        "flux-jobtap: site_policy not found\n")
    assert refused(broker, "jobtap", "load", str(tmp_path / "no.py")) == (
        f"flux-jobtap: {tmp_path / 'no.py'}: No such file or directory\n")
    bad = tmp_path / "bad.py"
    bad.write_text("import nosuchmodule_x\n")
    assert refused(broker, "jobtap", "load", str(bad)) == (
        f"flux-jobtap: {bad}: ModuleNotFoundError: No module named"
        " 'nosuchmodule_x'\n")
    assert refused(broker, "jobtap", "query", "nope") == (
        "flux-jobtap: nope not found\n")
    assert refused(broker, "jobtap", "load", str(path), "novalue") == (
        "flux-jobtap: conf argument must be KEY=VAL: novalue\n")


def test_config_plugins_and_submit_hold(broker_factory, tmp_path):
    path = tmp_path / "site_policy.py"
    path.write_text(textwrap.dedent(PLUGIN))
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "jm.toml").write_text(textwrap.dedent(f"""\
        [job-manager]
        plugins = [
          {{ load = "{path}", conf = {{ maxtasks = 2 }} }},
          {{ load = "submit-hold" }},
        ]
        """))
    broker = broker_factory(config_path=str(conf))
    assert broker.flux("jobtap", "list", "-a").out == (
        ".priority-default\n.limit-job-size\n.limit-duration\n"
        ".dependency-after\n.dependency-singleton\n.begin-time\n"
        ".validate-duration\n.update-duration\n.history\n.post-event\n"
        ".update-queue\nsite_policy\n"
        ".submit-hold\n")
    query = json.loads(broker.flux("jobtap", "query", "site_policy").out)
    assert query["conf"] == {"maxtasks": 2}
    held = submit(broker, TEST, "true")
    assert rows(broker, "{state} {urgency} {contextual_info}", held) == [
        "SCHED 0 held"]
    assert broker.flux("job", "urgency", held, "default").rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", held,
                       "clean").rc == 0
    # plugins are loaded at start: a reload that changes them is refused
    (conf / "jm.toml").write_text("[job-manager]\nplugins = []\n")
    err = refused(broker, "config", "reload")
    assert "job-manager.plugins: a change takes effect only when the" \
        " instance restarts" in err, err
    assert broker.flux("jobtap", "list").out == "site_policy\n"


def test_dependencies_survive_a_restart(broker_factory, tmp_path):
    broker = broker_factory(attrs={"statedir": str(tmp_path / "state")})
    target = submit(broker, "--urgency=hold", TEST, "true")
    done = submit(broker, TEST, "true")
    assert broker.flux("job", "wait-event", "-t", "60", done, "clean").rc == 0
    waiting = submit(broker, TEST, f"--dependency=afterok:{target}", "true")
    assert rows(broker, "{state}", waiting) == ["DEPEND"]
    broker.stop()
    broker.start()
    # still waiting after the restart, released when the target completes
    assert rows(broker, "{state} {contextual_info}", waiting) == [
        f"DEPEND depends:after-success={target}"]
    assert broker.flux("job", "urgency", target, "default").rc == 0
    assert broker.flux("job", "wait-event", "-t", "60", waiting,
                       "clean").rc == 0
    assert rows(broker, "{result}", waiting) == ["COMPLETED"]
    assert refused(broker, "submit", f"--dependency=afternotok:{done}",
                   "true") == (f"[Errno 22] dependency: afternotok: job"
                               f" {done} succeeded\n")
