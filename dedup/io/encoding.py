"""Decode a text file's bytes, whatever encoding the crawler saved it in.

Crawl files arrive as UTF-8 (with or without BOM), UTF-16 (with or without BOM), GB18030/GBK
or Big5. Strict decoding settles most files quickly; when more than one legacy encoding decodes
cleanly, the one whose characters are common Chinese characters wins (a misdecoded file is
mostly rare characters). Detection is deterministic and looks at nothing but the bytes.

>>> decode_text("中文".encode("gb18030"))
'中文'
"""

from __future__ import annotations

import codecs
import re
from functools import cache

from ..errors import DedupError


class NotTextError(DedupError):
    """The bytes are a binary file (image, archive, executable...), not a text."""

    def __init__(self, reason: str = "binary file, not text") -> None:
        self.reason = reason
        super().__init__(reason)


# Signatures of binary formats that turn up in crawl dumps. Each is long or odd enough that no
# real text starts with it.
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",  # JPEG
    b"PK\x03\x04",  # zip, docx, xlsx, jar
    b"PK\x05\x06",
    b"\x7fELF",
    b"\x1f\x8b",  # gzip
    b"(\xb5/\xfd",  # zstd
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"%PDF-",
    b"SQLite format 3\x00",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE: doc, xls
    b"\xca\xfe\xba\xbe",  # Mach-O fat / Java class
    b"\xcf\xfa\xed\xfe",  # Mach-O 64
    b"\xce\xfa\xed\xfe",
    b"\x00asm",
    b"wOFF",
    b"wOF2",
    b"OggS\x00",
    b"RIFF",
)

# C0 controls that never occur in text (tab, newlines, form feed and ESC are left out).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_NON_ASCII_RE = re.compile("[^\x00-\x7f]+")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_UTF8_REPLACEMENT = "\ufffd".encode()

# Measured on the seeds in GB18030, Big5 and UTF-16: the right decoding scores 0.998 or more,
# every wrong one that decodes at all 0.32 or less (Big5 read as GB18030).
_MIN_SCORE = 0.5
# GB18030 and Big5 text read as UTF-8 has 78-93% invalid sequences among its non-ASCII ones.
_UTF8_FEW_ERRORS = 0.05  # invalid share up to which a file is UTF-8 with damage, for sure
_UTF8_SOME_ERRORS = 0.5  # ... and up to which it is still UTF-8 when no legacy encoding fits
_MAX_CONTROL = 0.01  # share of control bytes above which undecodable bytes are binary
_SAMPLE = 1024  # non-ASCII characters scored per candidate


def decode_text(data: bytes) -> str:
    """Decode `data` to text, detecting its encoding; raise NotTextError for a binary file.

    Dirty text stays text: invalid bytes in an otherwise UTF-8 file become U+FFFD and NUL
    bytes are kept.
    """
    if not data:
        return ""
    if data.startswith(_MAGIC):
        raise NotTextError()
    bom = _decode_bom(data)
    if bom is not None:
        return bom
    if b"\x00" in data and utf16_nul_pattern(data):
        # UTF-16 of mostly-ASCII text is also valid UTF-8 (ASCII and NULs), so the NUL pattern
        # is looked at first. Other UTF-16 is not valid UTF-8 and is found among the legacy.
        utf16 = _best(data, _utf16_candidates(data))
        if utf16 is not None:
            return utf16
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    utf8, utf8_errors = _utf8_lenient(data)
    if utf8_errors <= _UTF8_FEW_ERRORS:
        return utf8
    legacy = _best(data, ("gb18030", "big5", *_utf16_candidates(data)))
    if legacy is not None:
        return legacy
    if _control_share(data) > _MAX_CONTROL:
        raise NotTextError()
    if utf8_errors <= _UTF8_SOME_ERRORS:
        return utf8
    legacy = _best(data, ("gb18030", "big5"), errors="replace")
    if legacy is not None:
        return legacy
    return _fallback(data) or utf8


def _decode_bom(data: bytes) -> str | None:
    # UTF-32 LE's BOM starts like UTF-16 LE's, so it is tried first and only kept if it decodes.
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be")):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                pass
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    return None


def utf16_nul_pattern(data: bytes) -> bool:
    """Whether NULs fill the high byte of a quarter of the 16-bit units or more, and seldom
    the low byte: ASCII in UTF-16. A few NULs in UTF-8 text do not qualify."""
    if len(data) % 2:
        return False
    nuls = sorted((data[0::2].count(0), data[1::2].count(0)))
    return nuls[1] >= max(4, len(data) // 8) and nuls[0] * 8 <= nuls[1]


def _utf16_candidates(data: bytes) -> tuple[str, ...]:
    """UTF-16 byte orders worth trying, the likelier first (ASCII puts NULs in the high byte)."""
    if len(data) % 2:
        return ()
    if data[0::2].count(0) > data[1::2].count(0):
        return ("utf-16-be", "utf-16-le")
    return ("utf-16-le", "utf-16-be")


def _utf8_lenient(data: bytes) -> tuple[str, float]:
    """UTF-8 with replacement characters, and the share of invalid non-ASCII sequences."""
    text = data.decode("utf-8", errors="replace")
    errors = text.count("\ufffd") - data.count(_UTF8_REPLACEMENT)
    non_ascii = len(text) - len(data.translate(None, _HIGH_BYTES))
    return text, errors / non_ascii if non_ascii else 0.0


def _best(data: bytes, encodings: tuple[str, ...], errors: str = "strict") -> str | None:
    """The plausible decoding with the highest score (ties: the earlier encoding), if any."""
    best: tuple[float, str] | None = None
    for encoding in encodings:
        try:
            text = data.decode(encoding, errors=errors)
        except UnicodeDecodeError:
            continue
        if errors != "strict" and text.count("\ufffd") > len(text) // 100:
            continue
        score = _score(text)
        if score >= _MIN_SCORE and (best is None or score > best[0]):
            best = (score, text)
    return best[1] if best is not None else None


def _score(text: str) -> float:
    """Share of common characters among a sample of the non-ASCII ones; 0 for control-ridden
    text. Plain ASCII scores 1: there is nothing to doubt."""
    head = text[: 4 * _SAMPLE]
    if len(_CONTROL_RE.findall(head)) > len(head) * _MAX_CONTROL:
        return 0.0
    first = _NON_ASCII_RE.search(text)
    if first is None:
        return 1.0
    start = first.start()
    sample = "".join(_NON_ASCII_RE.findall(text, start, start + 8 * _SAMPLE))[:_SAMPLE]
    return sum(map(_common_chars().__contains__, sample)) / len(sample)


@cache
def _common_chars() -> frozenset[str]:
    """GB2312 level 1 (the 3755 most used simplified characters) plus Big5's 5401 common
    traditional ones (an encoding-independent notion of an ordinary Chinese character), and
    the punctuation and Latin letters that Chinese text mixes in."""
    chars = {
        chr(o)
        for start, end in (
            (0x00A0, 0x017F),  # Latin-1 and Latin Extended-A: accents, pinyin tone marks
            (0x01CD, 0x01DC),  # pinyin ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ
            (0x2000, 0x206F),  # general punctuation: “ ” … —
            (0x3000, 0x303F),  # CJK punctuation: 、。《》「」
            (0xFF00, 0xFFEF),  # full-width forms: ，：（）
        )
        for o in range(start, end + 1)
    }
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            chars.update(bytes((lead, trail)).decode("gb2312", errors="ignore"))
    for lead in range(0xA4, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if lead << 8 | trail <= 0xC67E:
                chars.update(bytes((lead, trail)).decode("big5", errors="ignore"))
    return frozenset(chars)


def _control_share(data: bytes) -> float:
    return (len(data) - len(data.translate(None, _CONTROL_BYTES))) / len(data)


def _fallback(data: bytes) -> str | None:
    """Other legacy encodings (Latin-1, Shift-JIS, EUC-KR...) via charset-normalizer."""
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None:
        return None
    try:
        return data.decode(match.encoding, errors="replace")
    except LookupError:
        return None
