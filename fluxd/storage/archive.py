# -*- test-case-name: tests.unit.storage.test_archive -*-
"""KVS snapshot archives: what ``flux dump`` writes and ``flux restore``
reads (spec/kvs.md section 4; tree objects per RFC 11, blobs per RFC 10).

The layout is flux-core's (``src/cmd/builtin/dump.c``/``restore.c``):

- one archive member per key of the primary namespace, named by its
  path with ``/`` for the KVS ``.`` separator (``job/0000/0004/b200/0000/
  eventlog``), so the archive can be unpacked into a file system;
- a value is a regular file holding the value's bytes (a ``valref``'s
  blobs concatenated), mode 0644; a symlink is a symlink member whose
  target is ``[NAMESPACE::]TARGET``; directories are not members (an
  empty directory is not dumped);
- owner and group are the dumping user's; the modification time is the
  dump's start, or the checkpoint's timestamp with ``--checkpoint``;
- the format comes from the file name: ``.tar`` (POSIX, restricted pax),
  ``.tgz``/``.tar.gz``, ``.tar.bz2``, ``.tar.xz``; ``-`` is an
  uncompressed tar on standard output.  Reading detects the compression.

**[fluxd]** flux-core gives only valref members the owner and time (a
libarchive default of 0 remains on inline values); fluxd stamps every
member as its manual page says.

Restoring rebuilds the tree bottom-up: a value shorter than 72 bytes
(flux-core's ``BLOBREF_MAX_STRING_SIZE``) is stored inline as a ``val``,
a longer one as a blob and a ``valref``; each directory becomes a blob
and a ``dirref``.  The result is the root directory's blobref and the
newest member time, which ``--checkpoint`` records with sequence 0.

Pure Python: the ``flux dump``/``flux restore`` commands and the broker
(``content.dump``/``content.restore``, in a worker thread) share it.
Blobs come from a *source* (``load(ref) -> bytes``, optionally
``prefetch(refs)``) and go to a *sink* (``store({ref: bytes})``).
"""

import io
import os
import sys
import tarfile
import zlib

try:
    from lzma import LZMAError
except ImportError:     # a Python built without lzma
    LZMAError = zlib.error

from fluxd.errors import FluxError, InvalidArgument
from fluxd.storage import blobref as _blobref
from fluxd.storage import treeobj as T
from fluxd.storage.errors import ArchiveError

__all__ = ["ArchiveError", "open_for_write", "open_for_read", "Progress",
           "Dumper", "Restorer", "parse_size", "short_blobref",
           "RESTORE_VAL_MAX"]

#: restore: values shorter than this stay inline (flux-core's
#: BLOBREF_MAX_STRING_SIZE)
RESTORE_VAL_MAX = 72
#: restore: stored blobs are handed to the sink in batches of this size
SINK_BATCH_BYTES = 8 * 1024 * 1024
SINK_BATCH_COUNT = 2048

_WRITE_MODES = ((".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.bz2", "w:bz2"),
                (".tar.xz", "w:xz"), (".tar", "w"))


# -- archive files ------------------------------------------------------------

def open_for_write(path, stdout=None):
    """Open ``path`` (``-``: standard output) for a new archive.

    :raises ArchiveError: for a name whose format is unknown, or an
        unwritable file.
    """
    if path == "-":
        out = stdout if stdout is not None else sys.stdout
        return tarfile.open(fileobj=getattr(out, "buffer", out), mode="w|",
                            format=tarfile.PAX_FORMAT)
    for suffix, mode in _WRITE_MODES:
        if path.endswith(suffix):
            break
    else:
        raise ArchiveError(f"{path}: unknown archive format: use .tar, .tgz,"
                           " .tar.gz, .tar.bz2 or .tar.xz")
    # gzip at level 6, libarchive's default (tarfile's 9 is much slower
    # for little gain on KVS data)
    extra = {"compresslevel": 6} if mode == "w:gz" else {}
    try:
        return tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **extra)
    except OSError as exc:
        raise ArchiveError(f"{path}: {exc.strerror or exc}") from None


def open_for_read(path, stdin=None):
    """Open an archive (any compression tarfile knows); ``-`` is stdin.

    :raises ArchiveError: when it cannot be opened or is no archive.
    """
    try:
        if path == "-":
            src = stdin if stdin is not None else sys.stdin
            return tarfile.open(fileobj=getattr(src, "buffer", src), mode="r|*")
        return tarfile.open(path, "r:*")
    except FileNotFoundError:
        raise ArchiveError(f"{path}: No such file or directory") from None
    except OSError as exc:
        raise ArchiveError(f"{path}: {exc.strerror or exc}") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable archive ({exc})") from None


def parse_size(text):
    """``--size-limit``: a number with an optional b/k/K/M/G/T suffix
    (powers of 1024) -> bytes.

    :raises InvalidArgument: for anything else.
    """
    scale = {"b": 1, "k": 1024, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3,
             "T": 1024 ** 4}
    number, factor = text, 1
    if text and text[-1] in scale:
        number, factor = text[:-1], scale[text[-1]]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not number or value < 0 or value != value:
        raise InvalidArgument(f"invalid size '{text}'")
    return int(value * factor)


def short_blobref(ref):
    """The part of a blobref a human wants to see: ``sha1-0123abcd``."""
    name, _, hexdigest = ref.partition("-")
    return f"{name}-{hexdigest[:8]}"


class Progress:
    """The ``\\rflux-dump: archived N keys`` counter on stderr.

    :param prog: ``flux-dump`` or ``flux-restore``.
    :param stream: where the counter goes (None: nowhere).
    :param notify: a :class:`fluxd.storage.sdnotify.SdNotify` (or any
        callable taking the lines), or None.
    """

    def __init__(self, prog, stream=None, notify=None):
        self.prog = prog
        self.stream = stream
        self.notify = notify
        self.keys = 0
        self.blobs = 0

    def _text(self):
        if self.prog == "flux-dump":
            return f"archived {self.keys} keys"
        return f"restored {self.keys} keys ({self.blobs} blobs)"

    def add(self, keys=0, blobs=0):
        """Count; report every 100 keys and each of the first ten."""
        self.keys += keys
        self.blobs += blobs
        if self.keys % 100 == 0 or self.keys < 10:
            if self.stream is not None:
                self.stream.write(f"\r{self.prog}: {self._text()}")
                self.stream.flush()
            if self.notify is not None:
                self.notify("EXTEND_TIMEOUT_USEC=10000000",
                            f"STATUS={self.prog}(1) has {self._text()}")

    def end(self):
        """The final count, with a newline."""
        if self.stream is not None:
            self.stream.write(f"\r{self.prog}: {self._text()}\n")
            self.stream.flush()
        if self.notify is not None:
            self.notify(f"STATUS={self.prog}(1) has {self._text()}")


# -- dump -----------------------------------------------------------------------

class Dumper:
    """Write the tree under one root into an archive.

    :param source: ``load(ref) -> bytes`` (raises FluxError), optionally
        ``prefetch(refs)``.
    :param tar: an archive from :func:`open_for_write`.
    :param mtime: member time (seconds).
    :param progress: a :class:`Progress`.
    :param verbose: a stream that gets each key path, or None.
    :param ignore_failed_read: report a blob that cannot be loaded and go
        on, instead of failing.
    :param errors: the stream read errors are reported on.
    """

    def __init__(self, source, tar, mtime, progress, uid=None, gid=None,
                 verbose=None, ignore_failed_read=False, errors=None):
        self.source = source
        self.tar = tar
        self.mtime = int(mtime)
        self.uid = os.getuid() if uid is None else uid
        self.gid = os.getgid() if gid is None else gid
        self.progress = progress
        self.verbose = verbose
        self.ignore_failed_read = ignore_failed_read
        self.errors = errors if errors is not None else sys.stderr
        self.failed_reads = 0
        self._prefetch = getattr(source, "prefetch", None)

    def _read_error(self, text):
        if not self.ignore_failed_read:
            raise ArchiveError(text)
        self.failed_reads += 1
        self.errors.write(text + "\n")

    def _load_dir(self, ref, what):
        try:
            data = self.source.load(ref)
        except FluxError as exc:
            self._read_error(f"{what}: {exc}")
            return None
        try:
            obj = T.decode(data)
        except FluxError:
            raise ArchiveError(f"{what}: could not decode directory") from None
        if obj["type"] != T.DIR:
            raise ArchiveError(f"{what}: dirref references non-directory")
        return obj

    def dump(self, rootref):
        """Archive every key under ``rootref`` (a directory blobref)."""
        root = self._load_dir(rootref, "cannot load root tree object")
        if root is not None:
            self._dir("", root)

    def _dir(self, prefix, obj):
        entries = obj["data"]
        if self._prefetch is not None:
            # load ahead in walk order: this directory's blobs come next
            refs = []
            for entry in entries.values():
                if entry["type"] in (T.DIRREF, T.VALREF):
                    refs.extend(entry["data"])
            if refs:
                self._prefetch(refs)
        for name, entry in entries.items():
            self._entry(f"{prefix}/{name}" if prefix else name, entry)

    def _entry(self, path, obj):
        kind = obj["type"]
        if kind == T.DIRREF:
            sub = self._load_dir(obj["data"][0], f"{path}: missing blobref")
            if sub is not None:
                self._dir(path, sub)
        elif kind == T.DIR:
            self._dir(path, obj)
        elif kind == T.SYMLINK:
            self._say(path)
            target = obj["data"]["target"]
            if "namespace" in obj["data"]:
                target = f"{obj['data']['namespace']}::{target}"
            info = self._info(path, tarfile.SYMTYPE)
            info.linkname = target
            self.tar.addfile(info)
            self.progress.add(keys=1)
        elif kind == T.VAL:
            self._say(path)
            self._file(path, T.decode_val(obj))
        elif kind == T.VALREF:
            self._say(path)
            parts = []
            for index, ref in enumerate(obj["data"]):
                try:
                    parts.append(self.source.load(ref))
                except FluxError as exc:
                    self._read_error(f"{path}: missing blobref {index}: {exc}")
                    return
            self._file(path, b"".join(parts))

    def _say(self, path):
        if self.verbose is not None:
            self.verbose.write(path + "\n")

    def _info(self, path, kind):
        info = tarfile.TarInfo(path)
        info.type = kind
        info.mode = 0o644
        info.mtime = self.mtime
        info.uid, info.gid = self.uid, self.gid
        return info

    def _file(self, path, data):
        info = self._info(path, tarfile.REGTYPE)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        self.progress.add(keys=1)


# -- restore --------------------------------------------------------------------

class Restorer:
    """Rebuild a KVS tree from archive members, storing blobs in a sink.

    :param sink: ``store({ref: bytes})`` (blobs must be durable, or at
        least readable, once the last call returns).
    :param hash_name: the instance hash (``content.hash``).
    :param progress: a :class:`Progress`.
    :param size_limit: skip values longer than this (0: no limit).
    :param verbose: a stream that gets each restored path, or None.
    :param warnings: the stream size-limit skips are reported on.
    """

    def __init__(self, sink, hash_name, progress, size_limit=0, verbose=None,
                 warnings=None):
        self.sink = sink
        self.hash_name = _blobref.check_hash_name(hash_name)
        self.progress = progress
        self.size_limit = size_limit
        self.verbose = verbose
        self.warnings = warnings if warnings is not None else sys.stderr
        self.timestamp = 0
        self.skipped = 0
        self._pending = {}
        self._pending_bytes = 0

    def restore(self, tar):
        """Read every member of ``tar``; store the tree.

        :returns: the blobref of the restored root directory.
        :raises ArchiveError: for a damaged archive or a path that cannot
            be a key.
        """
        root = T.create_dir()
        try:
            for member in tar:
                self._member(tar, root, member)
        except (tarfile.TarError, EOFError, OSError, zlib.error, LZMAError) as exc:
            raise ArchiveError(f"error reading archive: {exc}") from None
        rootref = self._store_dir(root)
        self._flush()
        return rootref

    def _member(self, tar, root, member):
        self.timestamp = max(self.timestamp, int(member.mtime))
        if member.issym():
            target = member.linkname
            ns, sep, key = target.partition("::")
            obj = T.create_symlink(key, ns) if sep else T.create_symlink(target)
            self._insert(root, member.name, obj)
            self.progress.add(keys=1)
            if self.verbose is not None:
                self.verbose.write(f"{member.name} -> {target}\n")
        elif member.isreg():
            if self.size_limit > 0 and member.size > self.size_limit:
                cr = "" if self.verbose is not None or \
                    self.progress.stream is None else "\r"
                self.warnings.write(f"{cr}{member.name} size {member.size}"
                                    f" exceeds {self.size_limit} limit,"
                                    " skipping\n")
                self.skipped += 1
                return
            data = tar.extractfile(member).read()
            if len(data) != member.size:
                raise ArchiveError("short read from archive")
            if len(data) < RESTORE_VAL_MAX:
                obj = T.create_val(data)
            else:
                obj = T.create_valref([self._store(data)])
            self._insert(root, member.name, obj)
            self.progress.add(keys=1)
            if self.verbose is not None:
                self.verbose.write(member.name + "\n")
        # directories and other member types carry no key

    def _insert(self, root, path, obj):
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or any(p == ".." or "." in p for p in parts):
            raise ArchiveError(f"{path}: cannot be a KVS key (empty, '..' or"
                               " a component containing '.')")
        node = root
        for name in parts[:-1]:
            child = node["data"].get(name)
            if child is None:
                child = node["data"][name] = T.create_dir()
            elif child["type"] != T.DIR:
                raise ArchiveError(f"{name} in {path} is not a directory")
            node = child
        node["data"][parts[-1]] = obj

    def _store(self, data):
        ref = _blobref.hash_blob(data, self.hash_name)
        if ref not in self._pending:
            self._pending[ref] = data
            self._pending_bytes += len(data)
            self.progress.add(blobs=1)
            if self._pending_bytes >= SINK_BATCH_BYTES or \
                    len(self._pending) >= SINK_BATCH_COUNT:
                self._flush()
        return ref

    def _flush(self):
        if self._pending:
            blobs, self._pending, self._pending_bytes = self._pending, {}, 0
            self.sink.store(blobs)

    def _store_dir(self, obj):
        data = obj["data"]
        for name, entry in data.items():
            if entry["type"] == T.DIR:
                data[name] = T.create_dirref(self._store_dir(entry))
        return self._store(T.encode(obj))

