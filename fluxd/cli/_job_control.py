# -*- test-case-name: tests.unit.cli.test_job_control -*-
"""``flux job`` subcommands that act on jobs (spec/cli.md section 6,
spec/jobs.md sections 1.2 and 7), with flux-core's C ``flux-job``
messages (``flux-job: MESSAGE``, exit 1):

``urgency [-v] ID N|hold|default|expedite``
    ``job-manager.urgency``; ``-v`` prints the old urgency on stderr
    (``old urgency: 16``, ``old urgency: job held``...).
``raise [-s SEV] [-t TYPE] [-m NOTE] ID... [--] [NOTE...]``
    raise an exception (default: severity 0, type ``cancel``).
``raiseall [-s SEV] [-u USER] [-S STATES] [-f] TYPE [NOTE...]``
    on every matching job (a dry run without ``-f``).
``kill [-s SIG] ID...`` / ``killall [-s SIG] [-u USER] [-f]``
    send a signal to running jobs (default SIGTERM).
``purge [--age-limit=FSD] [--num-limit=N] [-f] [ID...]``
    remove inactive jobs (a dry run without ``-f``).
``wait [-a] [-v] [ID]``
    wait for waitable jobs (``--flags=waitable``); exit 2 when there is
    nothing to wait for.
"""

import argparse
import errno
import os
import signal
import sys

from fluxd.cli._jobid import parse_jobid, try_jobid
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["cmd_urgency", "cmd_raise", "cmd_raiseall", "cmd_kill",
           "cmd_killall", "cmd_purge", "cmd_wait", "ANY_JOB"]

PROG = "flux-job"
ANY_USER = 0xFFFFFFFF
ANY_JOB = 0xFFFFFFFFFFFFFFFF
URGENCY_NAMES = {"hold": 0, "default": 16, "expedite": 31}
INACTIVE, ACTIVE_MASK = 64, 62


class _Usage(Exception):
    """Wrong number of arguments: print the usage line and exit 1."""


class _Parser(argparse.ArgumentParser):
    """flux-job's option parser: usage errors exit 1 as optparse does."""

    def print_short_usage(self):
        sys.stderr.write(f"Usage: {self.usage}\n")

    def error(self, message):
        self.print_short_usage()
        self.exit(1, f"{PROG}: {message}\n")


def _parser(name, usage, description):
    return _Parser(prog=f"{PROG} {name}", usage=f"{PROG} {name} {usage}",
                   description=description)


def _run(parser, argv, body, connect=None):
    args = parser.parse_args(argv)
    if connect is None:
        from fluxd.client.sync import Flux
        connect = Flux
    handle = None

    def get_handle():
        nonlocal handle
        if handle is None:
            handle = connect()
        return handle

    try:
        return body(args, get_handle)
    except _Usage:
        parser.print_short_usage()
        return 1
    finally:
        if handle is not None:
            handle.close()


def _say(message):
    sys.stderr.write(f"{PROG}: {message}\n")


def _unsigned(text, name):
    if not text.isdigit():
        raise InvalidArgument(f'error parsing {name}: "{text}"')
    return int(text)


def parse_userid(text):
    """``-u USER`` of flux-job: a name, a uid or ``all``."""
    import pwd
    if text is None:
        return os.getuid()
    if text == "all":
        return ANY_USER
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        if not text.isdigit():
            raise InvalidArgument(f"unknown user {text}") from None
        return int(text)


def parse_states(values):
    """``-S STATES`` of flux-job (any RFC 21 state name, pending, running,
    active)."""
    from fluxd.job.jobs import STATE_WORDS
    mask = 0
    for value in values:
        for word in value.split(","):
            if word.lower() not in STATE_WORDS:
                raise InvalidArgument(f"error parsing --states: {word} is"
                                      " unknown")
            mask |= STATE_WORDS[word.lower()]
    if mask == 0:
        raise InvalidArgument("no states specified")
    return mask


def parse_signal(text, what):
    """A signal number from ``SIGTERM``, ``TERM`` or ``15``."""
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        number = getattr(signal.Signals, name, None) \
            if name in signal.Signals.__members__ else None
        if number is not None:
            return int(number)
    raise InvalidArgument(f"{what}: Invalid signal {text}")


def _ids_and_note(words, message, take_note=True):
    """Leading job ids, then (``take_note``) the rest as a note."""
    ids = []
    rest = list(words)
    while rest:
        jobid = try_jobid(rest[0])
        if jobid is None:
            break
        ids.append((rest.pop(0), jobid))
    note = None
    if rest:
        if not take_note:
            raise InvalidArgument(f"invalid jobid: {rest[0]}")
        if rest[0] == "--":
            rest.pop(0)
        note = " ".join(rest)
    if take_note and message is not None:
        if note:
            raise InvalidArgument("Do not set note on command line and with"
                                  " --message")
        note = message
    return ids, note


def _each(handle, topic, targets, prefix):
    """One request per job, all in flight; errors as ``PREFIX ID: MSG``."""
    tokens = [(text, handle.send(topic, payload))
              for text, payload in targets]
    rc = 0
    for text, token in tokens:
        try:
            handle.wait(token)
        except FluxError as exc:
            _say(f"{prefix} {text}: {exc}")
            rc = 1
    return rc


# -- urgency ------------------------------------------------------------------

def cmd_urgency(argv, connect=None):
    """``flux job urgency [-v] ID URGENCY``."""
    parser = _parser("urgency", "[OPTIONS] id urgency",
                     "Set job urgency (0-31, HOLD, EXPEDITE, DEFAULT)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Output old urgency value on success")
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)

    def body(args, handle):
        if len(args.words) != 2:
            raise _Usage()
        text, value = args.words
        jobid = parse_jobid(text)
        urgency = URGENCY_NAMES.get(value.lower())
        if urgency is None:
            urgency = _unsigned(value, "urgency")
        try:
            old = handle().rpc("job-manager.urgency",
                               {"id": jobid, "urgency": urgency})
        except FluxError as exc:
            raise InvalidArgument(f"{text}: {exc}") from None
        old = old.get("old_urgency")
        if args.verbose:
            shown = {0: "job held", 31: "job expedited"}.get(old, old)
            sys.stderr.write(f"old urgency: {shown}\n")
        return 0
    return _run(parser, argv, body, connect)


# -- raise / raiseall -----------------------------------------------------------

def cmd_raise(argv, connect=None):
    """``flux job raise [-s SEV] [-t TYPE] [-m NOTE] ID... [--] [NOTE]``."""
    parser = _parser("raise", "[OPTIONS] ids... [--] [message...]",
                     "Raise exception for job(s)")
    parser.add_argument("-s", "--severity", default="0", metavar="N",
                        help="Set exception severity [0-7] (default=0)")
    parser.add_argument("-t", "--type", default="cancel", metavar="TYPE",
                        help="Set exception type (default=cancel)")
    parser.add_argument("-m", "--message", metavar="NOTE",
                        help="Set exception note")
    parser.add_argument("words", nargs=argparse.REMAINDER,
                        help=argparse.SUPPRESS)

    def body(args, handle):
        if not args.words:
            raise _Usage()
        ids, note = _ids_and_note(args.words, args.message)
        severity = _severity(args.severity)
        targets = []
        for text, jobid in ids:
            payload = {"id": jobid, "severity": severity, "type": args.type}
            if note is not None:
                payload["note"] = note
            targets.append((text, payload))
        return _each(handle(), "job-manager.raise", targets, "raise")
    return _run(parser, argv, body, connect)


def _severity(text):
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f'error parsing severity: "{text}"') from None


def cmd_raiseall(argv, connect=None):
    """``flux job raiseall [-s SEV] [-u USER] [-S STATES] [-f] TYPE
    [NOTE...]``."""
    parser = _parser("raiseall", "[OPTIONS] type [message...]",
                     "Raise an exception on multiple jobs.")
    parser.add_argument("-s", "--severity", default="7", metavar="N",
                        help="Set exception severity [0-7] (0 is fatal,"
                        " default=7)")
    parser.add_argument("-u", "--user", metavar="USER",
                        help="Set target user or 'all' (instance owner only)")
    parser.add_argument("-S", "--states", action="append", metavar="STATES",
                        help="Set target job states (default=ACTIVE)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Confirm the command")
    parser.add_argument("words", nargs=argparse.REMAINDER,
                        help=argparse.SUPPRESS)

    def body(args, handle):
        if not args.words:
            raise _Usage()
        kind, note = args.words[0], " ".join(args.words[1:]) or None
        states = ACTIVE_MASK
        if args.states:
            states = parse_states(args.states)
            if states & INACTIVE:
                raise InvalidArgument("Exceptions cannot be raised on"
                                      " inactive jobs")
        dry_run = not args.force
        reply = _rpc(handle(), "raiseall", "job-manager.raiseall", {
            "dry_run": dry_run, "userid": parse_userid(args.user),
            "states": states, "severity": _severity(args.severity),
            "type": kind, "note": note or ""})
        count, errors = reply["count"], reply["errors"]
        if count > 0 and dry_run:
            _say(f"Command matched {count} jobs (-f to confirm)")
        elif count > 0:
            _say(f"Raised exception on {count} jobs ({errors} errors)")
        else:
            _say("Command matched 0 jobs")
        return 0
    return _run(parser, argv, body, connect)



def _rpc(handle, what, topic, payload):
    try:
        return handle.rpc(topic, payload)
    except FluxError as exc:
        raise InvalidArgument(f"{what}: {exc}") from None


# -- kill / killall ----------------------------------------------------------------

def cmd_kill(argv, connect=None):
    """``flux job kill [-s SIG] ID...``."""
    parser = _parser("kill", "[OPTIONS] ids...", "Send signal to running job")
    parser.add_argument("-s", "--signal", default="SIGTERM", metavar="SIG",
                        help="Send signal SIG (default SIGTERM)")
    parser.add_argument("words", nargs=argparse.REMAINDER,
                        help=argparse.SUPPRESS)

    def body(args, handle):
        if not args.words:
            raise _Usage()
        ids, _ = _ids_and_note(args.words, None, take_note=False)
        signum = parse_signal(args.signal, "kill")
        return _each(handle(), "job-manager.kill",
                     [(text, {"id": jobid, "signum": signum})
                      for text, jobid in ids], "kill")
    return _run(parser, argv, body, connect)


def cmd_killall(argv, connect=None):
    """``flux job killall [-s SIG] [-u USER] [-f]``."""
    parser = _parser("killall", "[OPTIONS]",
                     "Send signal to multiple running jobs")
    parser.add_argument("-s", "--signal", default="SIGTERM", metavar="SIG",
                        help="Send signal SIG (default SIGTERM)")
    parser.add_argument("-u", "--user", metavar="USER",
                        help="Set target user or 'all' (instance owner only)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Confirm the command")
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)

    def body(args, handle):
        if args.words:
            raise _Usage()
        signum = parse_signal(args.signal, "killall")
        userid = parse_userid(args.user)
        dry_run = not args.force
        reply = _rpc(handle(), "killall", "job-manager.killall", {
            "dry_run": dry_run, "userid": userid, "signum": signum})
        count, errors = reply["count"], reply["errors"]
        if count > 0 and dry_run:
            _say(f"Command matched {count} jobs (-f to confirm)")
        elif count > 0:
            _say(f"{signal.strsignal(signum)} {count} jobs ({errors} errors)")
        else:
            _say("Command matched 0 jobs")
        return 0
    return _run(parser, argv, body, connect)


# -- purge ---------------------------------------------------------------------------

def cmd_purge(argv, connect=None):
    """``flux job purge [--age-limit=FSD] [--num-limit=N] [-f] [ID...]``."""
    parser = _parser("purge", "[OPTIONS] [id...]", "Purge old inactive jobs")
    parser.add_argument("--age-limit", metavar="FSD",
                        help="Purge jobs that became inactive beyond"
                        " age-limit.")
    parser.add_argument("--num-limit", metavar="COUNT",
                        help="Purge oldest inactive jobs until COUNT are"
                        " left.")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Perform the irreversible purge.")
    parser.add_argument("ids", nargs="*", help=argparse.SUPPRESS)

    def body(args, handle):
        from fluxd.formats.fsd import parse_fsd
        payload = {"force": args.force}
        if args.ids:
            payload["jobs"] = [parse_jobid(text) for text in args.ids]
        if args.age_limit is not None:
            try:
                payload["age_limit"] = parse_fsd(args.age_limit)
            except ValueError:
                raise InvalidArgument(f"invalid value for --age-limit:"
                                      f" {args.age_limit}") from None
        if args.num_limit is not None:
            payload["num_limit"] = _unsigned(args.num_limit, "num-limit")
        reply = _rpc(handle(), "purge", "job-manager.purge", payload)
        if args.force:
            sys.stdout.write(f"purged {reply['count']} inactive jobs,"
                             f" {reply['remaining']} remaining\n")
        else:
            sys.stdout.write(f"use --force to purge {reply['count']} of"
                             f" {reply['remaining']} inactive jobs\n")
        return 0
    return _run(parser, argv, body, connect)


# -- wait ------------------------------------------------------------------------------

def cmd_wait(argv, connect=None):
    """``flux job wait [-a] [-v] [ID]``."""
    from fluxd.formats.fluid import encode
    parser = _parser("wait", "[OPTIONS] [id]",
                     "Wait for job(s) to complete.")
    parser.add_argument("-a", "--all", action="store_true",
                        help="Wait for all (waitable) jobs")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Emit a line of output for all jobs, not just"
                        " failing ones")
    parser.add_argument("ids", nargs="*", help=argparse.SUPPRESS)

    def body(args, handle):
        if len(args.ids) > 1:
            raise _Usage()
        jobid = ANY_JOB
        if args.ids:
            jobid = parse_jobid(args.ids[0])
            if args.all:
                raise InvalidArgument("jobid not supported with --all")
        if args.all:
            rc = 0
            while True:
                try:
                    reply = handle().rpc("job-manager.wait", {"id": ANY_JOB})
                except FluxError as exc:
                    if exc.errno == errno.ECHILD:
                        return rc
                    raise InvalidArgument(
                        f"flux_job_wait_get_status: {exc}") from None
                label = encode(reply["id"], "f58")
                if not reply["success"]:
                    sys.stderr.write(f"{label}: {reply['errstr']}\n")
                    rc = 1
                elif args.verbose:
                    sys.stderr.write(f"{label}: job completed"
                                     " successfully\n")
        try:
            reply = handle().rpc("job-manager.wait", {"id": jobid})
        except FluxError as exc:
            _say(str(exc))
            return 2 if exc.errno == errno.ECHILD else 1
        if jobid == ANY_JOB:
            sys.stdout.write(encode(reply["id"], "f58") + "\n")
        if not reply["success"]:
            _say(reply["errstr"])
            return 1
        return 0
    return _run(parser, argv, body, connect)
