# -*- test-case-name: tests.unit.exec.test_testexec -*-
"""The test execution settings of a job (flux-core's ``testexec.c``).

A job runs in test mode, without job shells, when its jobspec has the
object ``attributes.system.exec.test`` (possibly empty), e.g. from
``flux submit --setattr=exec.test.run_duration=1s``.  Its keys:

- ``run_duration`` (FSD string, or a number of seconds as ``--setattr``
  makes of ``0``): how long the job "runs"; zero ends it at once, as a
  job without any duration.  Without it, the job's duration
  (``attributes.system.duration``), where 0 (no time limit) means until
  it is canceled or killed;
- ``wait_status`` (int): the status of the ``finish`` event;
- ``mock_exception`` (``init`` or ``run``): fail at that point;
- ``override`` (int/bool): start, and finish an unlimited job, only when
  ``job-exec.override`` says so;
- ``reattach_finish`` (int/bool): when reattached after a restart, finish
  at once.

Pure; :func:`read_conf` raises :class:`ExecTestError` naming the key
that cannot be used.
"""

from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import FSDError, parse_fsd

__all__ = ["ExecTestConf", "ExecTestError", "read_conf"]

#: ``run_duration`` when the jobspec gives no duration at all (flux: 1e-5s)
NO_DURATION = -1.0


class ExecTestError(InvalidArgument):
    """A test execution setting that cannot be used."""


class ExecTestConf:
    """One job's test execution settings.

    :ivar run_duration: seconds; 0 runs until killed; negative when the
        jobspec gave no duration or ``run_duration`` is zero (then it
        ends almost at once).
    """

    __slots__ = ("run_duration", "wait_status", "mock_exception", "override",
                 "reattach_finish")

    def __init__(self, run_duration=NO_DURATION, wait_status=0,
                 mock_exception=None, override=False, reattach_finish=False):
        self.run_duration = run_duration
        self.wait_status = wait_status
        self.mock_exception = mock_exception
        self.override = override
        self.reattach_finish = reattach_finish


def _flag(test, key):
    value = test.get(key, 0)
    if not isinstance(value, int):
        raise ExecTestError(f"{key} must be an integer or a boolean")
    return bool(value)


def read_conf(jobspec):
    """Read the test settings of a jobspec.

    :returns: a :class:`ExecTestConf`, or None when the job is not a test job
        (no ``attributes.system.exec.test``).
    :raises ExecTestError: e.g. ``run_duration must be an FSD string``.
    """
    try:
        system = jobspec["attributes"]["system"]
        test = system["exec"]["test"]
    except (KeyError, TypeError):
        return None
    if not isinstance(test, dict):
        raise ExecTestError("attributes.system.exec.test must be an object")
    duration = system.get("duration")
    conf = ExecTestConf()
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) \
            and duration >= 0:
        conf.run_duration = float(duration)
    if "run_duration" in test:
        value = test["run_duration"]
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value >= 0:
            # --setattr=exec.test.run_duration=0 gives a number (seconds)
            conf.run_duration = float(value)
        elif not isinstance(value, str):
            raise ExecTestError("run_duration must be an FSD string or"
                                f" seconds >= 0, not {value!r}")
        else:
            try:
                conf.run_duration = parse_fsd(value)
            except FSDError as exc:
                raise ExecTestError(f"run_duration: {exc}") from None
        if conf.run_duration == 0:
            # asked for no run time: done at once (flux-core's testexec
            # would run it forever, which no one asks for with a zero)
            conf.run_duration = NO_DURATION
    status = test.get("wait_status", 0)
    if not isinstance(status, int) or isinstance(status, bool) or status < 0:
        raise ExecTestError("wait_status must be an integer >= 0")
    conf.wait_status = status
    mock = test.get("mock_exception")
    if mock is not None and mock not in ("init", "run"):
        raise ExecTestError(f"mock_exception must be init or run, not {mock!r}")
    conf.mock_exception = mock
    conf.override = _flag(test, "override")
    conf.reattach_finish = _flag(test, "reattach_finish")
    return conf
