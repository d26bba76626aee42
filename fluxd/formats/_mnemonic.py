# -*- test-case-name: tests.unit.formats.test_fluid -*-
"""Word (mnemonicode) and emoji (basemoji) codecs for RFC 19 FLUIDs.

Private helpers of :mod:`fluxd.formats.fluid`.  Both tables are package
data (``fluxd/formats/data/``) read with :mod:`importlib.resources` the
first time a ``words`` or ``emoji`` conversion needs them, so decimal and
f58 job ids never pay for loading 2,000 table entries.

*words*: Oren Tirosh's mnemonicode v0.7 (see ``data/MNEMONIC-LICENSE.txt``)
as flux-core uses it: the 8 bytes of the id in little-endian order, each
4-byte group written as three base-1626 digits, least significant first,
rendered ``w-w-w--w-w-w``.  Decoding follows flux-core's ``mn_decode()``:
a word is a run of ASCII letters (case-insensitive), anything else
separates words, and decoding stops quietly at the first unknown word.

*emoji*: flux-core's basemoji, base 576 over a fixed table of 4-byte
UTF-8 emoji, most significant digit first, no padding (0 is one emoji).
"""

from functools import cache
from importlib import resources

__all__ = [
    "words", "emoji", "words_encode", "words_decode", "emoji_encode",
    "emoji_decode", "is_emoji_string",
]

#: Base of mnemonicode: the number of ordinary words.
MN_BASE = 1626

#: Number of extra three-letter words that only encode 24-bit remainders.
MN_REMAINDER = 7

#: Base of the emoji encoding.
EMOJI_BASE = 576

_U64_MAX = 2**64 - 1

# basemoji.c: a valid string is 1 to 7 emoji, each exactly 4 UTF-8 bytes,
# and every table entry starts with the bytes F0 9F.
_EMOJI_MIN_BYTES = 4
_EMOJI_MAX_BYTES = 28
_EMOJI_LEAD = b"\xf0\x9f"


def _read_table(name, expected):
    text = resources.files("fluxd.formats").joinpath("data", name).read_text(
        encoding="utf-8")
    table = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(table) != expected:
        # A truncated data file would silently shift every id: refuse it.
        raise RuntimeError(f"{name}: expected {expected} entries, found {len(table)}")
    return table


@cache
def words():
    """The mnemonicode word list, loaded on first use.

    :returns: a tuple of 1633 lowercase words: the 1626 base words (index 0
        is ``academy``) followed by the 7 remainder words.
    """
    return _read_table("mnemonic-words.txt", MN_BASE + MN_REMAINDER)


@cache
def _word_index():
    return {word: i for i, word in enumerate(words())}


@cache
def emoji():
    """The basemoji digit table, loaded on first use.

    :returns: a tuple of the 576 emoji, digit value order.
    """
    table = _read_table("emoji.txt", EMOJI_BASE)
    for glyph in table:
        data = glyph.encode("utf-8")
        if len(data) != 4 or not data.startswith(_EMOJI_LEAD):
            raise RuntimeError(f"emoji.txt: {glyph!r} is not a 4-byte F0 9F emoji")
    return table


@cache
def _emoji_index():
    return {glyph.encode("utf-8"): i for i, glyph in enumerate(emoji())}


def words_encode(value):
    """Encode a 64-bit unsigned integer as six mnemonicode words.

    :param value: an integer in ``0 .. 2**64-1``.
    :returns: ``w-w-w--w-w-w``; the first group holds the low 32 bits.
    """
    table = words()
    groups = []
    # Little-endian bytes 0-3 are the low 32 bits, bytes 4-7 the high ones.
    for x in (value & 0xFFFFFFFF, value >> 32):
        groups.append("-".join((table[x % MN_BASE],
                                table[(x // MN_BASE) % MN_BASE],
                                table[(x // MN_BASE ** 2) % MN_BASE])))
    return "--".join(groups)


def _letter_runs(text):
    """Yield the maximal runs of ASCII letters, as mn_next_word_index() sees
    words in the C locale (isalpha is false for every non-ASCII byte)."""
    start = None
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isalpha():
            if start is None:
                start = i
        elif start is not None:
            yield text[start:i]
            start = None
    if start is not None:
        yield text[start:]


def words_decode(text):
    """Decode mnemonicode words into a 64-bit unsigned integer.

    Mirrors flux-core: the text must yield exactly 8 bytes, i.e. six base
    words in two complete groups.  A seventh known word overruns the
    buffer; a remainder word or a short final group leaves fewer than 8
    bytes; an unknown word ends decoding (words after it are ignored).

    :param text: the words, separated by any non-letters.
    :returns: the integer, or None when the words do not make 8 bytes.
    """
    index = _word_index()
    groups = [0, 0]
    offset = 0          # bytes decoded so far, as mn_decode_word_index counts
    for run in _letter_runs(text):
        idx = index.get(run.lower())
        if idx is None:
            break
        if offset >= 8:
            return None                      # MN_EOVERRUN: more words than bytes
        pos = offset % 4
        if idx >= MN_BASE and pos != 2:
            return None                      # MN_EINDEX24: misplaced remainder word
        g = offset // 4
        if pos == 0:
            groups[g] = idx
            offset += 1
        elif pos == 1:
            groups[g] += idx * MN_BASE
            offset += 1
        elif pos == 2:
            if idx >= MN_BASE:
                # A 24-bit remainder word: legal only as the very last word,
                # and then the id is short of 8 bytes anyway.
                groups[g] += (idx - MN_BASE) * MN_BASE ** 2
                offset += 1
            else:
                # mnemonic.c's overflow guard, thresholds and all; values it
                # lets through wrap at 32 bits as the C byte stores do.
                if idx >= 1625 or (idx == 1624 and groups[g] > 1312671):
                    return None              # MN_EENCODING
                groups[g] = (groups[g] + idx * MN_BASE ** 2) & 0xFFFFFFFF
                offset += 2
        else:
            return None                      # MN_EOVERRUN24: data after a remainder
    if offset != 8:
        return None
    return groups[0] | (groups[1] << 32)


def is_emoji_string(text):
    """Whether ``text`` has the shape of a basemoji string.

    True for 1 to 7 four-byte UTF-8 characters starting with bytes F0 9F;
    whether each one is in the table is left to :func:`emoji_decode`.
    """
    data = text.encode("utf-8", "surrogatepass")
    return (_EMOJI_MIN_BYTES <= len(data) <= _EMOJI_MAX_BYTES
            and len(data) % 4 == 0
            and data.startswith(_EMOJI_LEAD))


def emoji_encode(value):
    """Encode a 64-bit unsigned integer in base 576 emoji.

    :param value: an integer in ``0 .. 2**64-1``.
    :returns: 1 to 7 emoji, most significant first; 0 is the first emoji.
    """
    table = emoji()
    digits = []
    while True:
        value, rem = divmod(value, EMOJI_BASE)
        digits.append(table[rem])
        if value == 0:
            break
    return "".join(reversed(digits))


def emoji_decode(text):
    """Decode a basemoji string into a 64-bit unsigned integer.

    :param text: the emoji string.
    :returns: the integer, or None if ``text`` is not a valid basemoji
        string or its value does not fit in 64 bits.
    """
    if not is_emoji_string(text):
        return None
    index = _emoji_index()
    data = text.encode("utf-8", "surrogatepass")
    value = 0
    for i in range(0, len(data), 4):
        digit = index.get(data[i:i + 4])
        if digit is None:
            return None
        value = value * EMOJI_BASE + digit
    # 7 emoji reach 576**7 > 2**64; C would wrap, we refuse.
    if value > _U64_MAX:
        return None
    return value
