# -*- test-case-name: tests.unit.formats.test_fluid -*-
"""RFC 19 FLUIDs: Flux locally unique ids, the job ids of Flux.

A FLUID is a 64-bit unsigned integer laid out, most significant bit first,
as ``timestamp:40 | generator:14 | sequence:10``: milliseconds since the
generator's epoch, the generating broker's rank and a per-millisecond
counter.  :class:`FluidGenerator` makes them; :func:`encode` and
:func:`decode` convert between the integer and its text encodings:

========  ===============================================================
dec       base 10 (``42``)
hex       ``0x`` and lowercase hex, no padding (``0x2a``)
dothex    four groups of four hex digits (``0000.0000.0000.002a``)
kvs       ``job.`` + dothex, the job's KVS directory
words     mnemonicode of the 8 little-endian bytes (``w-w-w--w-w-w``)
f58       ``ƒ`` + base58 (``ƒj``); ``f`` in ASCII-only settings
f58plain  ``f`` + base58, always ASCII
emoji     base 576 over an emoji table
========  ===============================================================

:func:`decode` recognises the encoding the way flux-core's
``flux_job_id_parse()`` does: skip leading whitespace and an optional
``job.`` prefix; then a ``.`` means dothex, a ``-`` means words, a leading
``ƒ`` or ``f`` means f58, a leading ``F0 9F`` byte pair means emoji,
``0x`` means hex, and anything else must be a decimal integer (trailing
whitespace allowed).  Where flux-core's C code would silently wrap a
value past 64 bits (long f58 or emoji strings) we reject it instead.
"""

import locale
import os
import re
import time

from fluxd.errors import InvalidArgument, ValueRangeError

__all__ = [
    "FluidError", "FluidRangeError", "ENCODINGS", "encode", "decode",
    "detect", "f58_prefix", "FluidGenerator", "timestamp", "generator",
    "sequence", "compose", "FLUID_MAX",
]

TS_BITS = 40
GEN_BITS = 14
SEQ_BITS = 10

#: Largest FLUID (and largest job id).
FLUID_MAX = 2**64 - 1
#: Generator ids are ``0 .. GENERATOR_MAX`` (broker ranks that may ingest jobs).
GENERATOR_MAX = 2**GEN_BITS - 1
#: Timestamps are ``0 .. TIMESTAMP_MAX`` milliseconds.
TIMESTAMP_MAX = 2**TS_BITS - 1

#: The encodings :func:`encode` accepts for ``to``.
ENCODINGS = ("dec", "hex", "dothex", "kvs", "words", "f58", "f58plain", "emoji")

F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_F58_VALUE = {ch: i for i, ch in enumerate(F58_ALPHABET)}
_F58_MAX_DIGITS = 12
F58_PREFIX = "\u0192"      # ƒ, LATIN SMALL LETTER F WITH HOOK
F58_ASCII_PREFIX = "f"

# C isspace() in the C locale: what strtoull() and flux skip.
_C_SPACE = " \t\n\v\f\r"
_DEC_RE = re.compile(r"\+?([0-9]+)[ \t\n\v\f\r]*\Z")
_HEX_RE = re.compile(r"0x([0-9a-fA-F]+)[ \t\n\v\f\r]*\Z")
_DOTHEX_GROUP_RE = re.compile(r"[0-9a-fA-F]{0,4}\Z")


class FluidError(InvalidArgument):
    """Invalid FLUID"""


class FluidRangeError(FluidError, ValueRangeError):
    """FLUID out of range"""


def _check(fluid):
    if isinstance(fluid, bool) or not isinstance(fluid, int):
        raise FluidError(f"{fluid!r}: a FLUID must be an integer")
    if not 0 <= fluid <= FLUID_MAX:
        raise FluidRangeError(f"{fluid}: FLUID out of range 0-{FLUID_MAX}")
    return fluid


def timestamp(fluid):
    """The timestamp field: milliseconds since the generator's epoch.

    :param fluid: a FLUID.
    :returns: ``fluid >> 24``.
    :raises FluidError: if ``fluid`` is not a 64-bit unsigned integer.
    """
    return _check(fluid) >> (GEN_BITS + SEQ_BITS)


def generator(fluid):
    """The generator id field (the rank of the broker that made the id).

    :param fluid: a FLUID.
    :returns: an integer in ``0 .. 16383``.
    :raises FluidError: if ``fluid`` is not a 64-bit unsigned integer.
    """
    return (_check(fluid) >> SEQ_BITS) & GENERATOR_MAX


def sequence(fluid):
    """The sequence field: the id's rank within its millisecond.

    :param fluid: a FLUID.
    :returns: an integer in ``0 .. 1023``.
    :raises FluidError: if ``fluid`` is not a 64-bit unsigned integer.
    """
    return _check(fluid) & (2**SEQ_BITS - 1)


def compose(ts, gen, seq):
    """Build a FLUID from its three fields.

    :param ts: milliseconds, ``0 .. 2**40-1``.
    :param gen: generator id, ``0 .. 16383``.
    :param seq: sequence number, ``0 .. 1023``.
    :returns: ``ts << 24 | gen << 10 | seq``.
    :raises FluidRangeError: if a field does not fit its bits.
    """
    for name, value, bits in (("timestamp", ts, TS_BITS),
                              ("generator", gen, GEN_BITS),
                              ("sequence", seq, SEQ_BITS)):
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 0 <= value < 2**bits:
            raise FluidRangeError(f"FLUID {name} {value!r} does not fit in {bits} bits")
    return (ts << (GEN_BITS + SEQ_BITS)) | (gen << SEQ_BITS) | seq


# --- f58 -------------------------------------------------------------------

def _locale_codeset():
    try:
        return locale.nl_langinfo(locale.CODESET)
    except (AttributeError, ValueError):      # no nl_langinfo on this platform
        return locale.getencoding()


def f58_prefix(environ=None, codeset=None):
    """The prefix ``f58`` encoding uses here: ``ƒ`` or ASCII ``f``.

    flux-core writes ``ƒ`` only when the character locale is UTF-8 and
    ``FLUX_F58_FORCE_ASCII`` is not set, so that ids stay printable on
    terminals that cannot show it.

    :param environ: the environment to consult (default :data:`os.environ`).
    :param codeset: the locale codeset (default: this process's LC_CTYPE).
    :returns: ``"ƒ"`` or ``"f"``.
    """
    env = os.environ if environ is None else environ
    if "FLUX_F58_FORCE_ASCII" in env:
        return F58_ASCII_PREFIX
    if codeset is None:
        codeset = _locale_codeset()
    if codeset.replace("-", "").replace("_", "").lower() == "utf8":
        return F58_PREFIX
    return F58_ASCII_PREFIX


def _b58(value):
    digits = []
    while True:
        value, rem = divmod(value, 58)
        digits.append(F58_ALPHABET[rem])
        if value == 0:
            return "".join(reversed(digits))


def _f58_decode(body):
    if not 1 <= len(body) <= _F58_MAX_DIGITS:
        return None
    value = 0
    for ch in body:
        digit = _F58_VALUE.get(ch)
        if digit is None:
            return None
        value = value * 58 + digit
    # Twelve digits reach 58**12 > 2**64: refuse rather than wrap as C does.
    return value if value <= FLUID_MAX else None


# --- encode / decode -------------------------------------------------------

def _dothex(value):
    return (f"{(value >> 48) & 0xFFFF:04x}.{(value >> 32) & 0xFFFF:04x}."
            f"{(value >> 16) & 0xFFFF:04x}.{value & 0xFFFF:04x}")


def encode(fluid, to="dec"):
    """Render a FLUID in one of the :data:`ENCODINGS`.

    :param fluid: an integer in ``0 .. 2**64-1``.
    :param to: the encoding name, case-insensitive (flux-core compares with
        ``strcasecmp``).
    :returns: the text form.
    :raises FluidError: if ``fluid`` is not a 64-bit unsigned integer or
        ``to`` names no encoding.
    """
    value = _check(fluid)
    name = to.lower() if isinstance(to, str) else to
    if name == "dec":
        return str(value)
    if name == "hex":
        return f"0x{value:x}"
    if name == "dothex":
        return _dothex(value)
    if name == "kvs":
        return "job." + _dothex(value)
    if name == "f58":
        return f58_prefix() + _b58(value)
    if name == "f58plain":
        return F58_ASCII_PREFIX + _b58(value)
    if name == "words":
        from fluxd.formats import _mnemonic
        return _mnemonic.words_encode(value)
    if name == "emoji":
        from fluxd.formats import _mnemonic
        return _mnemonic.emoji_encode(value)
    raise FluidError(f"unknown FLUID encoding {to!r}"
                     f" (expected one of {', '.join(ENCODINGS)})")


def _decode_dothex(text):
    groups = text.split(".")
    # strtoul() would also take signs, spaces and over-long groups and
    # mangle them; RFC 19 dothex is four groups of at most four hex digits.
    if len(groups) != 4 or not all(_DOTHEX_GROUP_RE.match(g) for g in groups):
        return None
    value = 0
    for g in groups:
        value = (value << 16) | (int(g, 16) if g else 0)
    return value


def _parse(s):
    """Detect and decode; returns ``(encoding, value)`` or raises."""
    if not isinstance(s, str):
        raise FluidError(f"{s!r}: malformed input")
    text = s.lstrip(_C_SPACE)
    kvs = text.startswith("job.")
    if kvs:
        text = text[4:]
    text = text.lstrip(_C_SPACE)
    value = None
    if not text:
        encoding = "dec"
    elif "." in text:
        encoding = "kvs" if kvs else "dothex"
        value = _decode_dothex(text)
    elif "-" in text:
        from fluxd.formats import _mnemonic
        encoding = "words"
        value = _mnemonic.words_decode(text)
    elif text[0] in (F58_PREFIX, F58_ASCII_PREFIX):
        encoding = "f58" if text[0] == F58_PREFIX else "f58plain"
        value = _f58_decode(text[1:])
    elif "\U0001F000" <= text[0] <= "\U0001FFFF":
        # Every code point U+1F000..U+1FFFF is F0 9F xx xx in UTF-8.
        from fluxd.formats import _mnemonic
        encoding = "emoji"
        value = _mnemonic.emoji_decode(text)
    else:
        match = _HEX_RE.match(text) if text.startswith("0x") else _DEC_RE.match(text)
        encoding = "hex" if text.startswith("0x") else "dec"
        if match:
            value = int(match.group(1), 16 if encoding == "hex" else 10)
            if value > FLUID_MAX:
                value = None                 # strtoull() ERANGE
    if value is None:
        raise FluidError(f"{s}: malformed input")
    return encoding, value


def decode(s):
    """Parse a job id in any encoding, as ``flux_job_id_parse()`` does.

    :param s: the text; leading whitespace and a ``job.`` prefix are
        skipped, and decimal and hex ids may carry trailing whitespace.
    :returns: the FLUID as an integer.
    :raises FluidError: ``"<s>: malformed input"`` if ``s`` is no valid id.
    """
    return _parse(s)[1]


def detect(s):
    """Name the encoding a valid job id string is written in.

    :param s: the text, as for :func:`decode`.
    :returns: one of :data:`ENCODINGS`; ``kvs`` for ``job.`` + dothex,
        ``f58plain`` for base58 with the ASCII ``f`` prefix, ``f58`` for
        the ``ƒ`` prefix.
    :raises FluidError: if ``s`` does not decode.
    """
    return _parse(s)[0]


# --- generator ---------------------------------------------------------------

# fluid_generate() busy-waits while seq + 1 >= 1024, so at most 1023 ids
# (sequence 0..1022) come out of one millisecond.
_SEQ_LIMIT = 2**SEQ_BITS - 1


class FluidGenerator:
    """Make increasing FLUIDs for one generator id (RFC 19).

    The timestamp is milliseconds elapsed on ``clock`` since construction
    plus ``starttime_ms``; a restarted generator given the last issued
    id's timestamp + 1 never goes backwards.  Within one millisecond the
    sequence counts 0, 1, ... 1022; when it is used up :meth:`next` polls
    the clock until the next millisecond, as flux-core does (at most 1 ms).

    :param generator_id: ``0 .. 16383``, normally the broker rank.
    :param starttime_ms: the timestamp of the first id.
    :param clock: a monotonic clock returning seconds.
    :raises FluidError: if ``generator_id`` or ``starttime_ms`` is invalid.
    """

    def __init__(self, generator_id, starttime_ms=0, clock=time.monotonic):
        if isinstance(generator_id, bool) or not isinstance(generator_id, int) \
                or not 0 <= generator_id <= GENERATOR_MAX:
            raise FluidError(f"FLUID generator id {generator_id!r} out of range"
                             f" 0-{GENERATOR_MAX}")
        if isinstance(starttime_ms, bool) or not isinstance(starttime_ms, int) \
                or starttime_ms < 0:
            raise FluidError(f"FLUID start time {starttime_ms!r} must be a"
                             " non-negative integer")
        self._clock = clock
        self._id = generator_id
        self._seq = 0
        self._offset = starttime_ms
        self._timestamp = starttime_ms
        self._zero = self._now_ms()

    @property
    def generator_id(self):
        """The generator id stamped into every FLUID made here."""
        return self._id

    def _now_ms(self):
        # Round to whole microseconds first so float noise in
        # seconds * 1000 (e.g. 0.0029999) cannot lose a millisecond.
        return round(self._clock() * 1_000_000) // 1000

    def _update(self):
        ts = self._now_ms() - self._zero + self._offset
        if ts > TIMESTAMP_MAX:
            raise FluidRangeError(f"FLUID timestamp {ts} exceeds {TS_BITS} bits:"
                                  " the generator's lifetime is over")
        if ts > self._timestamp:
            self._seq = 0
            self._timestamp = ts

    def next(self):
        """Make the next FLUID.

        :returns: an id greater than every id this generator made before.
        :raises FluidRangeError: once the timestamp no longer fits 40 bits.
        """
        self._update()
        while self._seq >= _SEQ_LIMIT:
            self._update()
        fluid = (self._timestamp << (GEN_BITS + SEQ_BITS)) \
            | (self._id << SEQ_BITS) | self._seq
        self._seq += 1
        return fluid

    def save_timestamp(self):
        """The generator's current timestamp, for restarting it later.

        :returns: milliseconds; start a new generator at this value + 1 to
            keep ids increasing.
        :raises FluidRangeError: once the timestamp no longer fits 40 bits.
        """
        self._update()
        return self._timestamp
