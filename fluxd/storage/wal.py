# -*- test-case-name: tests.unit.storage.test_wal -*-
"""Telling a torn ``-wal`` tail from a damaged write-ahead log.

sqlite's WAL file (https://sqlite.org/fileformat2.html, "The WAL File
Format") is a 32-byte header then frames of a 24-byte frame header and
one page.  The header holds a magic number (its lowest bit chooses the
checksum byte order), the page size, two *salts* that change each time
the log restarts from the beginning, and a checksum of its first 24
bytes.  Each frame header holds its page number, the database size in
pages for the last frame of a transaction (a *commit frame*, else 0),
the salts, and a checksum that chains: it covers the frame's first 8
header bytes and its page, starting from the previous frame's checksum
(the header's for the first frame).

When sqlite opens the database it replays frames up to the last valid
commit frame and ignores everything from the first frame that does not
carry the header's salts or whose checksum does not chain: a transaction
cut short by a crash is simply not there, which is right for a *torn
tail* (its frames were never all written, so the commit was never
acknowledged), and frames left over from an earlier generation of the
log carry other salts.

But the same rule turns damage into silent loss: a frame overwritten in
the middle of the log hides every transaction after it, though they were
acknowledged.  :func:`check_wal` therefore looks past the first bad frame:
if a later frame of the *same generation* (the header's salts) chains
correctly from the checksum stored in the frame before it and is a
commit frame, a committed transaction would be lost, and the log is
refused with :class:`~fluxd.storage.errors.CorruptStore` naming the file.
A damaged header in front of valid frames of its generation is refused
the same way (sqlite would ignore the whole log).

Pure Python.
"""

import array
import struct
import sys

from fluxd.storage.errors import CorruptStore, StoreError

__all__ = ["WAL_HEADER", "FRAME_HEADER", "check_wal", "wal_frames"]

WAL_HEADER = 32
FRAME_HEADER = 24
_MAGICS = (0x377F0682, 0x377F0683)
_MASK = 0xFFFFFFFF


def _checksum(data, s0, s1, big_endian):
    """sqlite's WAL checksum of ``data`` (a multiple of 8 bytes), starting
    from ``(s0, s1)``."""
    words = array.array("I")
    words.frombytes(data)
    if big_endian != (sys.byteorder == "big"):
        words.byteswap()
    it = iter(words)
    for x0, x1 in zip(it, it):
        s0 = (s0 + x0 + s1) & _MASK
        s1 = (s1 + x1 + s0) & _MASK
    return s0, s1


class _Frame:
    __slots__ = ("index", "offset", "page", "commit", "salts", "checksum",
                 "head", "data")

    def __init__(self, index, offset, raw, page_size):
        self.index = index
        self.offset = offset
        self.page, self.commit, salt1, salt2, c1, c2 = struct.unpack(
            ">6I", raw[:FRAME_HEADER])
        self.salts = (salt1, salt2)
        self.checksum = (c1, c2)
        self.head = raw[:8]
        self.data = raw[FRAME_HEADER:FRAME_HEADER + page_size]

    def chains_from(self, previous, big_endian):
        """Whether this frame's checksum follows from ``previous``."""
        s = _checksum(self.head, previous[0], previous[1], big_endian)
        return _checksum(self.data, s[0], s[1], big_endian) == self.checksum


def wal_frames(data):
    """Parse a WAL image.

    :returns: ``(header dict, [frames])``; the header has ``magic``,
        ``page_size``, ``salts``, ``checksum``, ``big_endian`` and
        ``valid`` (magic, page size and checksum all good).  Only whole
        frames are returned (a short last one is a torn tail).
    """
    magic, _version, page_size, _ckpt, salt1, salt2, c1, c2 = struct.unpack(
        ">8I", data[:WAL_HEADER])
    big_endian = bool(magic & 1)
    size_ok = 512 <= page_size <= 65536 and not page_size & (page_size - 1)
    valid = magic in _MAGICS and size_ok and \
        _checksum(data[:24], 0, 0, big_endian) == (c1, c2)
    header = {"magic": magic, "page_size": page_size,
              "salts": (salt1, salt2), "checksum": (c1, c2),
              "big_endian": big_endian, "valid": valid}
    frames = []
    if size_ok:
        step = FRAME_HEADER + page_size
        offset = WAL_HEADER
        while offset + step <= len(data):
            frames.append(_Frame(len(frames), offset,
                                 data[offset:offset + step], page_size))
            offset += step
    return header, frames


def _first_bad(header, frames):
    previous = header["checksum"]
    for frame in frames:
        if frame.salts != header["salts"] or \
                not frame.chains_from(previous, header["big_endian"]):
            return frame.index
        previous = frame.checksum
    return None


def _committed_after(header, frames, bad, orders):
    """A valid commit frame of the header's generation after ``bad``."""
    for frame in frames[bad + 1:]:
        if frame.salts != header["salts"] or not frame.commit:
            continue
        previous = frames[frame.index - 1].checksum if frame.index else \
            header["checksum"]
        for big_endian in orders:
            if frame.chains_from(previous, big_endian):
                return frame
    return None


def check_wal(path):
    """Refuse a damaged write-ahead log; accept a torn tail.

    :param path: the ``-wal`` file (missing or empty: nothing to check).
    :raises CorruptStore: naming the file and the first damaged frame.
    :raises StoreError: when the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    if len(data) < WAL_HEADER:
        return
    header, frames = wal_frames(data)
    if not frames:
        return
    if header["valid"]:
        bad = _first_bad(header, frames)
        if bad is None:
            return
        orders = (header["big_endian"],)
    else:
        # sqlite ignores a log whose header is bad: any valid commit frame
        # carrying its salts (checksums of either byte order, the magic
        # may be what is damaged) is lost with it
        bad = -1
        orders = (False, True)
    found = _committed_after(header, frames, bad, orders)
    if found is None:
        return      # a torn tail: the frames after it were never committed
    where = "its header" if bad < 0 else \
        f"frame {bad} (offset {frames[bad].offset})"
    raise CorruptStore(f"{path} is damaged at {where}, followed by committed"
                       f" frames of the same log (frame {found.index}): sqlite"
                       " would drop them")
