# -*- test-case-name: tests.unit.cli.test_pstree -*-
"""``flux pstree [OPTIONS] [JOBID...]``: the running jobs as a tree of
job names (flux-pstree(1)), descending into every running job that is a
Flux instance (a ``uri`` memo: ``flux batch``/``flux alloc``) to show
its jobs below it.

The root is the enclosing instance (``.``); identical leaves are
combined (``2*[sleep]``, unless ``-X``).  ``-a`` shows the current user's
jobs in every state (leaf labels ``NAME:ST``); ``-f`` selects states or
results like ``flux jobs -f``; ``-L N`` descends N levels; ``-p`` puts
the job id before instance labels; ``-o``/``--parent-label`` change the
labels (``flux jobs`` fields).  ``-x`` (or ``-d default``,
``--detail-format=FMT``) prints details of each job in columns before
the tree, under a header (``-n``: none), and leaves the root out
(``--skip-root=yes|no`` decides).  ``-C``/``--ascii`` change the
connectors; lines are cut at the terminal width unless ``-l``.  An
instance that cannot be reached (gone, or not the user's) is shown
without children, as flux does.  Errors are ``flux-pstree: ERROR: ...``.
"""

import argparse
import os
import sys

from fluxd.errors import FluxError, InvalidArgument

__all__ = ["main", "PsTree", "DETAILS_FORMAT"]

PROG = "flux-pstree"
DETAILS_FORMAT = {
    "default": ("{id.f58:>12} {username:<8.8} {status_abbrev:>2.2}"
                " {ntasks:>6h} {nnodes:>6h} {runtime!F:>8h}"),
    "resources": ("{id.f58:>12} "
                  "{instance.resources.all.nnodes:>5} "
                  "{instance.resources.allocated.nnodes:>5} "
                  "{instance.resources.all.ncores:>5} "
                  "{instance.resources.allocated.ncores:>5} "
                  "{instance.resources.all.ngpus:>5} "
                  "{instance.resources.allocated.ngpus:>5}"),
    "progress": ("{id.f58:>12} {ntasks:>6h} {instance.stats.total:>6} "
                 "{instance.progress!P:>5} {instance.utilization!P:>5} "
                 "{instance.gpu_utilization!P:>5} {runtime!H:>10}"),
    "stats": "{id.f58:>12} {instance.stats:^25} {runtime!H:>10}",
}
LABEL_ALL = "{name}:{status_abbrev}"
USERID_ANY = 0xFFFFFFFF


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Filter(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True if self.nargs == 0 else values)
        namespace.filtered = True


def _yes_no(text):
    if text not in ("yes", "no"):
        raise argparse.ArgumentTypeError("requires either 'yes' or 'no'")
    return text == "yes"


def build_parser():
    """:returns: the ``flux pstree`` argument parser."""
    p = _Parser(prog=PROG)
    p.add_argument("-a", "--all", action=_Filter, nargs=0, default=False,
                   help="Include all jobs for current user in all states")
    p.add_argument("-c", "--count", action=_Filter, type=int, default=1000,
                   metavar="N", help="Limit to N jobs per instance"
                   " (default 1000)")
    p.add_argument("-f", "--filter", action=_Filter, default="running",
                   metavar="STATE|RESULT",
                   help="list jobs with specific job state or result")
    p.add_argument("-x", "--extended", action="store_true",
                   help="print extended details before tree output")
    p.add_argument("-l", "--long", action="store_false", dest="truncate",
                   help="do not truncate long lines to terminal width")
    p.add_argument("-L", "--level", type=int, default=999, metavar="N",
                   help="only descend N levels")
    p.add_argument("-p", "--parent-ids", action="store_true",
                   help="include jobids in parent labels")
    p.add_argument("-n", "--no-header", action="store_true",
                   help="Suppress header with -x, --extended")
    p.add_argument("-X", "--no-combine", action="store_false",
                   dest="combine", help="disable combination of identical"
                   " children")
    p.add_argument("-o", "--label", metavar="FORMAT",
                   help="change label format (default='{name}')")
    p.add_argument("--parent-label", metavar="FORMAT",
                   help="change label format for parent only")
    p.add_argument("--detail-format", metavar="FORMAT", dest="prefix_format",
                   help="specify output format for extended details"
                   " (implies -x, --extended)")
    p.add_argument("-d", "--details", metavar="NAME",
                   help="Select a named extended details format ("
                   + ",".join(DETAILS_FORMAT) + ")")
    p.add_argument("-C", "--compact", action="store_true",
                   help="Use compact tree connectors")
    p.add_argument("--ascii", action="store_true",
                   help="Use ASCII character tree connectors")
    p.add_argument("--skip-root", type=_yes_no, metavar="[yes|no]",
                   help="suppress or include the enclosing instance in"
                   " output")
    p.add_argument("jobids", metavar="JOBID", nargs="*",
                   help="Limit output to specific jobids")
    p.set_defaults(filtered=False)
    return p


def _formatter(fmt):
    import string
    from fluxd.cli._jobinfo import headings_for
    from fluxd.cli.formatting import Formatter
    fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
    try:
        return Formatter(fmt, headings_for(fields))
    except (InvalidArgument, ValueError) as exc:
        raise InvalidArgument(f"Error in user format: {exc}") from None


class PsTree:
    """Builds the tree of ``flux pstree``.

    :param args: the parsed options.
    :param connect: ``connect(uri)`` -> a broker handle (None: the
        enclosing instance).
    :param now: callable returning the time (runtimes).
    :param getuid: callable returning the caller's uid.
    """

    def __init__(self, args, connect, now, getuid):
        self.args = args
        self.connect = connect
        self.now = now
        self.getuid = getuid
        if args.label and not args.parent_label:
            args.parent_label = args.label
        if args.all:
            args.label = args.label or LABEL_ALL
        args.label = args.label or "{name}"
        args.parent_label = args.parent_label or "{name}"
        if args.parent_ids:
            args.parent_label = "{id.f58} " + args.parent_label
        self.label = _formatter(args.label)
        self.parent = _formatter(args.parent_label)
        self.prefix = None
        if args.extended or args.details or args.prefix_format:
            details = args.details or "default"
            fmt = args.prefix_format or DETAILS_FORMAT.get(details)
            if fmt is None:
                raise InvalidArgument(f"Unknown --details format '{details}'")
            self.prefix = _formatter(fmt)
        if args.all:
            args.filter = "pending,running,inactive"
        self._instance_fields = any(
            f.startswith("instance.") for fmt in (
                self.label, self.parent, self.prefix) if fmt is not None
            for f in fmt.fields)

    def _job(self, record):
        from fluxd.cli._jobinfo import JobInfo
        job = JobInfo(record, now=self.now)
        if self._instance_fields:
            from fluxd.cli._instance import attach
            attach(job, self.connect)
        return job

    def _prefix(self, job):
        return self.prefix.format(job) if self.prefix else ""

    def build(self, skip_root, jobids):
        """The :class:`~fluxd.cli._tree.Tree` of the jobs."""
        from fluxd.cli._tree import Tree
        if skip_root:
            root = Tree(".", combine_children=self.args.combine)
        else:
            job = self.root_job()
            root = Tree(self.parent.format(job), self._prefix(job),
                        self.args.combine)
        self._load(root, None, 0, jobids, skip_root)
        return root

    def root_job(self):
        """The enclosing instance as a job (id ``.``, name ``.``)."""
        from fluxd.cli._jobinfo import JobID
        handle = self.connect(None)
        try:
            attr = lambda name: handle.rpc("attr.get", {"name": name})[
                "value"]
            size = int(attr("size"))
            record = self._parent_record(attr)
            if record is not None:
                record["ranks"] = f"0-{size - 1}"
                return self._job(record)
            record = {"id": 0, "userid": int(attr("security.owner")),
                      "state": 16, "name": ".", "ntasks": size,
                      "nnodes": size, "nodelist": attr("hostlist"),
                      "ranks": f"0-{size - 1}",
                      "annotations": {"user": {"uri": attr("local-uri")}},
                      "t_run": float(attr("broker.starttime"))}
        finally:
            handle.close()
        job = self._job(record)

        class RootID(JobID):
            def _encode(self, to):
                return "."
        job._values["id"] = RootID(0)
        return job

    def _parent_record(self, attr):
        """This instance's own job, from the instance that runs it (the
        ``jobid`` and ``parent-uri`` attributes), or None."""
        from fluxd.cli._jobid import try_jobid
        try:
            jobid = try_jobid(str(attr("jobid")))
            parent = attr("parent-uri") if jobid is not None else None
        except FluxError:
            return None
        if not parent:
            return None
        try:
            handle = self.connect(parent)
        except FluxError:
            return None
        try:
            return handle.rpc("job-list.list-id", {
                "id": int(jobid), "attrs": ["all"]})["job"]
        except FluxError:
            return None
        finally:
            handle.close()

    def _load(self, tree, uri, level, jobids=None, skip_root=False):
        from fluxd.cli.cmd_jobs import _parse_filters
        if level > self.args.level:
            return
        # as flux-core: without the root line, its own jobs are the
        # running ones whatever the filter (which applies below them)
        filters = "running" if level == 0 and skip_root \
            else self.args.filter
        states, results = _parse_filters(filters.split(","))
        try:
            handle = self.connect(uri)
        except FluxError:
            return
        try:
            if jobids:
                records = []
                for jobid in jobids:
                    try:
                        records.append(handle.rpc("job-list.list-id", {
                            "id": jobid, "attrs": ["all"]})["job"])
                    except FluxError as exc:
                        sys.stderr.write(f"{PROG}: ERROR: {exc}\n")
            else:
                count = self.args.count
                records = handle.rpc("job-list.list", {
                    "max_entries": count, "attrs": ["all"],
                    "userid": self.getuid(), "states": states,
                    "results": results, "since": 0.0})["jobs"]
        except FluxError:
            return
        finally:
            handle.close()
        for record in records:
            job = self._job(record)
            if job.uri and job.state_single == "R":
                from fluxd.cli._tree import Tree
                child = Tree(self.parent.format(job), self._prefix(job),
                             self.args.combine)
                self._load(child, job.uri, level + 1)
                tree.append_tree(child)
            else:
                tree.append(self.label.format(job), self._prefix(job))


def main(argv, connect=None, stdout=None, now=None, getuid=os.getuid):
    """Run ``flux pstree``; returns the exit code."""
    import time
    from fluxd.cli._jobid import JobID
    from fluxd.cli.cmd_uri import connector
    stdout = stdout or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        jobids = [JobID(text) for text in args.jobids]
    except ValueError as exc:
        sys.stderr.write(f"{PROG}: error: argument JOBID: {exc}\n")
        return 2
    try:
        if args.ascii and args.compact:
            raise InvalidArgument("Choose only one of --ascii, --compact")
        if jobids and args.filtered:
            sys.stderr.write(f"{PROG}: WARNING: filtering options ignored"
                             " with jobid list\n")
        pstree = PsTree(args, connect or connector, now or time.time, getuid)
        skip_root = pstree.prefix is not None or bool(jobids)
        if args.skip_root is not None:
            skip_root = args.skip_root
        tree = pstree.build(skip_root, jobids)
    except FluxError as exc:
        sys.stderr.write(f"{PROG}: ERROR: {exc}\n")
        return 1
    style = "compact" if args.compact else "ascii" if args.ascii else "box"
    if pstree.prefix is not None and not args.no_header:
        stdout.write(pstree.prefix.header() + "\n")
    tree.render(stdout, style, skip_root, args.truncate)
    return 0
