# -*- test-case-name: tests.unit.cli.test_job_control -*-
"""Job ids on the command line, as flux's Python and C tools read them.

:class:`JobID` is the argparse type of the Python tools (``flux
cancel``): any RFC 19 encoding, and ``invalid JobID value: 'X'`` when
none fits.  :func:`parse_jobid` is ``flux-job``'s C helper: exit with
``error parsing jobid: "X"``.
"""

from fluxd.errors import InvalidArgument

__all__ = ["JobID", "parse_jobid", "try_jobid"]


class JobID(int):
    """A job id parsed from any RFC 19 encoding (an int)."""

    def __new__(cls, text):
        from fluxd.formats.fluid import decode
        if isinstance(text, int):
            return super().__new__(cls, text)
        try:
            return super().__new__(cls, decode(text))
        except InvalidArgument:
            raise ValueError(f"invalid JobID value: {text!r}") from None

    def __str__(self):
        from fluxd.formats.fluid import encode
        return encode(int(self), "f58")


def try_jobid(text):
    """The job id in ``text``, or None if it is not one."""
    try:
        return JobID(text)
    except ValueError:
        return None


def parse_jobid(text):
    """A job id for ``flux-job`` subcommands.

    :raises InvalidArgument: ``error parsing jobid: "X"``.
    """
    jobid = try_jobid(text)
    if jobid is None:
        raise InvalidArgument(f'error parsing jobid: "{text}"')
    return jobid
