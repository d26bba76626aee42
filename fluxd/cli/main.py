# -*- test-case-name: tests.unit.cli.test_main -*-
"""Entry point of the ``flux`` command.

``flux CMD ARGS...`` imports only the module that implements CMD (see
:data:`COMMANDS`), so a command such as ``flux getattr`` or ``flux
hostlist`` starts in little more than the interpreter's own start-up:
this module imports nothing beyond ``os`` and ``sys`` (already loaded by
the interpreter), and no command module imports Twisted
(tests/unit/test_fences.py checks both).  Every subcommand runs under
:func:`run_command`, the one place that turns exceptions into a one-line
message and an exit code.

A subcommand module provides ``main(argv) -> int`` (or the function named
after a ``:`` in :data:`COMMANDS`) where ``argv`` are the arguments after
the subcommand name.
"""

import os
import sys

from fluxd import __version__

#: name -> (module, one-line summary shown by ``flux help``)
COMMANDS = {
    "hostlist": ("fluxd.cli.cmd_hostlist", "Manipulate lists of hosts"),
    "job": ("fluxd.cli.cmd_job", "Job housekeeping utility"),
    "jobs": ("fluxd.cli.cmd_jobs", "List jobs submitted to Flux"),
    "getattr": ("fluxd.cli.cmd_attr:getattr_main", "Get broker attribute"),
    "setattr": ("fluxd.cli.cmd_attr:setattr_main", "Set broker attribute"),
    "lsattr": ("fluxd.cli.cmd_attr:lsattr_main", "List broker attributes"),
    "module": ("fluxd.cli.cmd_module", "Manage and list broker modules"),
    "keygen": ("fluxd.cli.cmd_keygen", "Generate the overlay cluster certificate"),
    "overlay": ("fluxd.cli.cmd_overlay", "Show flux overlay network status"),
    "ping": ("fluxd.cli.cmd_ping", "Send echo requests to a broker service"),
    "start": ("fluxd.cli.cmd_start", "Bootstrap a local Flux instance"),
    "broker": ("fluxd.nest.launch", "Run a broker of a nested instance (a job's task)"),
    "batch": ("fluxd.cli.cmd_batch", "Submit a batch job"),
    "alloc": ("fluxd.cli.cmd_alloc", "Allocate a new Flux instance for interactive use"),
    "R": ("fluxd.cli.cmd_R", "Manipulate Flux resource set (R) objects"),
    "housekeeping": ("fluxd.cli.cmd_housekeeping",
                     "List and kill active housekeeping"),
    "perilog-run": ("fluxd.cli.cmd_perilog_run",
                    "Run a job prolog or epilog on the ranks of a job"),
    "uptime": ("fluxd.cli.cmd_uptime", "Tell how long Flux has been up and running"),
    "startlog": ("fluxd.cli.cmd_startlog", "List Flux instance starts and stops"),
    "shutdown": ("fluxd.cli.cmd_shutdown", "Shut down the Flux instance"),
    "dmesg": ("fluxd.cli.cmd_dmesg", "Print or control the broker log ring buffer"),
    "logger": ("fluxd.cli.cmd_logger", "Create a Flux log entry"),
    "config": ("fluxd.cli.cmd_config", "Manage/query Flux configuration"),
    "admin": ("fluxd.cli.cmd_admin", "Flux instance administration"),
    "kvs": ("fluxd.cli.cmd_kvs", "Flux key-value store utility"),
    "content": ("fluxd.cli.cmd_content", "Access content store"),
    "dump": ("fluxd.cli.cmd_dump", "Dump KVS snapshot to a portable archive format"),
    "fsck": ("fluxd.cli.cmd_fsck", "Check the integrity of the content store"),
    "restore": ("fluxd.cli.cmd_restore",
                "Restore KVS snapshot from a portable archive format"),
    "resource": ("fluxd.cli.cmd_resource", "Manipulate and query resources"),
    "submit": ("fluxd.cli.cmd_submit", "submit a job to a Flux instance"),
    "run": ("fluxd.cli.cmd_run", "run a Flux job interactively"),
    "bulksubmit": ("fluxd.cli.cmd_bulksubmit",
                   "submit jobs in bulk to a Flux instance"),
    "cancel": ("fluxd.cli.cmd_cancel", "cancel one or more jobs"),
    "queue": ("fluxd.cli.cmd_queue", "manage the job queue"),
    "jobtap": ("fluxd.cli.cmd_jobtap", "List, remove, and load job-manager plugins"),
    "update": ("fluxd.cli.cmd_update", "Update active Flux jobs"),
    "uri": ("fluxd.cli.cmd_uri", "Resolve a job or other target to a Flux URI"),
    "proxy": ("fluxd.cli.cmd_proxy",
              "Run a command connected to another Flux instance"),
    "pstree": ("fluxd.cli.cmd_pstree", "Display a tree of running jobs"),
    "install-system": ("fluxd.admin.install",
                       "Install the files of a system instance"),
    "preflight": ("fluxd.cli.cmd_preflight",
                  "Run the admin guide's pre-flight checklist on this node"),
    "job-validator": ("fluxd.cli.cmd_job_plugins:validator_main",
                      "List job-ingest's validator plugins"),
    "job-frobnicator": ("fluxd.cli.cmd_job_plugins:frobnicator_main",
                        "List job-ingest's frobnicator plugins"),
}

USAGE = "Usage: flux [OPTIONS] COMMAND ARGS"


def _print_help(out):
    out.write(USAGE + "\n")
    out.write("  -h, --help             Display this message\n")
    out.write("  -V, --version          Display command and component versions\n")
    out.write("\nCommon commands from flux-core:\n")
    width = max(len(name) for name in COMMANDS)
    for name in sorted(COMMANDS, key=str.lower):
        out.write(f"   {name:<{width}}  {COMMANDS[name][1]}\n")
    out.write("\nSee 'flux help COMMAND' for more information about a command.\n")


def _print_version(out):
    import platform
    out.write(f"commands:    \t\t{__version__}\n")
    out.write(f"libflux-core:\t\t{__version__}\n")
    out.write(f"build-options:\t\t+python=={platform.python_version()}\n")


def run_command(prog, func, argv):
    """Run one subcommand and map any error to a message and exit code.

    :param prog: the name used in messages, e.g. ``flux-hostlist``.
    :param func: callable taking ``argv`` and returning an exit code.
    :param argv: the subcommand's arguments.
    :returns: the process exit code.
    """
    from fluxd.errors import FluxError
    try:
        return func(argv) or 0
    except FluxError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``flux hostlist -e ... | head``): quiet exit,
        # and keep Python from complaining again when it flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"{prog}: {where}{exc.strerror or exc}\n")
        return 1
    except Exception as exc:  # a bug: still one line, traceback on request
        if os.environ.get("FLUX_CLI_DEBUG"):
            raise
        sys.stderr.write(f"{prog}: internal error: {type(exc).__name__}: {exc}"
                         " (set FLUX_CLI_DEBUG=1 for a traceback)\n")
        return 1


def dispatch(argv):
    """Parse the top-level options and run the chosen subcommand.

    :param argv: the arguments after ``flux``.
    :returns: the process exit code.
    """
    if not argv or argv[0] in ("-h", "--help"):
        _print_help(sys.stdout if argv else sys.stderr)
        return 0 if argv else 1
    if argv[0] in ("-V", "--version", "version"):
        _print_version(sys.stdout)
        return 0
    name, rest = argv[0], argv[1:]
    if name == "help":
        if not rest:
            _print_help(sys.stdout)
            return 0
        name, rest = rest[0], ["--help"]
    if name.startswith("-"):
        sys.stderr.write(f"flux: unrecognized option '{name}'\n"
                         "Try 'flux --help' for more information.\n")
        return 1
    entry = COMMANDS.get(name)
    if entry is None:
        sys.stderr.write(f"flux: '{name}' is not a flux command. See 'flux help'.\n")
        return 1
    return run_command(f"flux-{name}", _loader(entry[0]), rest)


def _loader(target):
    """A callable that imports ``module[:function]`` (default ``main``)
    and runs it, so that an import failure is reported like any error."""
    modname, _, funcname = target.partition(":")

    def run(argv):
        __import__(modname)
        return getattr(sys.modules[modname], funcname or "main")(argv)
    return run


#: commands that end the process at once (no interpreter teardown, a few
#: ms of a ``flux run``): they hold no open file but stdout and stderr
_QUICK_EXIT = frozenset(("run", "submit", "job"))


def main(argv=None):
    """Console-script entry point of ``flux``."""
    args = sys.argv[1:] if argv is None else argv
    code = dispatch(args)
    if argv is None and args and args[0] in _QUICK_EXIT:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)      # the interpreter reports it as usual
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


if __name__ == "__main__":
    main()
