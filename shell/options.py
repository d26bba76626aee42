# -*- test-case-name: tests.unit.exec.test_shell -*-
"""The shell options the job shell acts on (``attributes.system.shell.
options``, set by ``-o/--setopt``, ``--output``, ``--error``,
``--input``, ``--label-io`` and the rlimit propagation of the submission
commands).  Pure.

- ``output.stdout``/``output.stderr`` ``{type: file, path, label}``: the
  stream goes to a file (mustache templates ``{{id}}``, ``{{jobid}}``,
  ``{{id.f58}}``, ``{{id.dec}}``, ``{{id.hex}}`` replaced);
  ``{buffer: {type: none}}`` (``-u``): stdout is sent as read, not by
  whole lines;
- ``output.limit``: bytes of output kept in the KVS (a number, or with
  a ``k``/``M``/``G`` suffix), 10M by default;
- ``output.batch-timeout``: seconds between two output writes, 0.05;
- ``input.stdin {type: file, path}``: the tasks' standard input;
- ``rlimit {name: value}``: resource limits of the tasks (-1 unlimited).
"""

__all__ = ["OptionError", "OutputOptions", "output_options", "rlimits",
           "parse_size", "expand"]

DEFAULT_LIMIT = 10 * 1024 * 1024
_UNITS = {"": 1, "k": 1024, "K": 1024, "m": 1024 ** 2, "M": 1024 ** 2,
          "g": 1024 ** 3, "G": 1024 ** 3}


class OptionError(ValueError):
    """A shell option the shell cannot use."""


def parse_size(value):
    """``1024``, ``"1k"``, ``"10M"`` as bytes."""
    if isinstance(value, bool):
        raise OptionError(f"invalid size {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise OptionError(f"invalid size {value!r}")
        return int(value)
    text = str(value).strip()
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    number = text[:-1] if unit else text
    try:
        size = float(number)
    except ValueError:
        raise OptionError(f"invalid size {value!r}") from None
    if size < 0:
        raise OptionError(f"invalid size {value!r}")
    return int(size * _UNITS[unit])


def expand(path, jobid, f58):
    """Replace the job id mustache templates of an output path."""
    from fluxd.formats.fluid import encode
    values = {"id": f58, "jobid": f58, "id.f58": f58}
    if jobid is not None:
        values.update({"id.dec": str(jobid), "id.hex": encode(jobid, "hex"),
                       "id.words": encode(jobid, "words"),
                       "id.dothex": encode(jobid, "dothex")})
    for key, value in values.items():
        path = path.replace("{{" + key + "}}", value)
    return path


class OutputOptions:
    """What :func:`output_options` read."""

    def __init__(self):
        self.paths = {}
        self.label = False
        self.limit = DEFAULT_LIMIT
        self.batch_timeout = 0.05
        self.input_path = None
        self.unbuffered = set()


def _get(options, dotted):
    node = options
    for part in dotted.split("."):
        if isinstance(node, dict) and dotted in node:
            return node[dotted]
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def output_options(options, f58, jobid=None):
    """Read the output and input options of a job."""
    out = OutputOptions()
    if not isinstance(options, dict):
        return out
    for stream in ("stdout", "stderr"):
        spec = _get(options, f"output.{stream}")
        if not isinstance(spec, dict):
            continue
        buffer = spec.get("buffer")
        if isinstance(buffer, dict) and buffer.get("type") == "none":
            out.unbuffered.add(stream)
        if spec.get("type", "file" if "path" in spec else "kvs") != "file":
            continue
        path = spec.get("path")
        if not isinstance(path, str) or not path:
            raise OptionError(f"output.{stream}: a file needs a path")
        out.paths[stream] = expand(path, jobid, f58)
        out.label = out.label or bool(spec.get("label"))
    limit = _get(options, "output.limit")
    if limit is not None:
        out.limit = parse_size(limit)
    timeout = _get(options, "output.batch-timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or timeout < 0:
            raise OptionError(f"output.batch-timeout: invalid {timeout!r}")
        out.batch_timeout = float(timeout)
    stdin = _get(options, "input.stdin")
    if isinstance(stdin, dict) and stdin.get("type", "file") == "file":
        path = stdin.get("path")
        if not isinstance(path, str) or not path:
            raise OptionError("input.stdin: a file needs a path")
        out.input_path = path
    return out


def rlimits(options):
    """``[(name, value)]`` of ``options.rlimit``."""
    limits = options.get("rlimit") if isinstance(options, dict) else None
    if not isinstance(limits, dict):
        return []
    return [(str(k), int(v)) for k, v in limits.items()
            if isinstance(v, int) and not isinstance(v, bool)]
