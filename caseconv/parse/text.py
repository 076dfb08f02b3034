"""Reading case files and undoing what PDF extraction does to text, keeping offsets.

The parser works on a cleaned copy of the text (lines that a PDF broke mid-sentence
joined again, words hyphenated across lines rejoined, ligatures and dashes folded,
reference numbers glued to words dropped) but every span it reports must index the
text as read. `CleanText` keeps, for each character of the clean copy, the offset
of the character it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caseconv.model import Span


class InputError(ValueError):
    """Input that cannot be converted: the message names the problem in one line."""


#: Magic numbers of files that are given by mistake instead of a text.
_BINARY_KINDS = ((b"%PDF", "a PDF file"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                 (b"PK\x03\x04", "a ZIP archive (or a DOCX file)"))


def decode(data: bytes) -> tuple[str, list[str]]:
    """Decode a case file: UTF-8 (BOM dropped), else cp1252 with a warning."""
    if not data.strip():
        raise InputError("the file is empty")
    for magic, kind in _BINARY_KINDS:
        if data.startswith(magic):
            raise InputError(f"this is {kind}, not a text file")
    if len(data) > 132 and data[128:132] == b"DICM":
        raise InputError("this is a DICOM file, not a text file")
    if b"\x00" in data:
        raise InputError("binary data (NUL bytes), not a text file")
    warnings: list[str] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        warnings.append("not valid UTF-8: read as cp1252")
    return text, warnings


_FOLD = str.maketrans({
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u00d7": "x", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u00a0": " ", "\t": " ", "\r": " ",
    # other control characters (form feeds from PDF page breaks, stray unit separators) are spaces
    **{code: " " for code in [*range(0, 9), 11, 12, *range(14, 32), 127, *range(128, 160)]},
})
_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
              "\ufb05": "st", "\ufb06": "st"}
#: A line that starts a caption: "Fig 1.", "Fig. 2A", "Figure 3:", "FIG 4 -", "Image 1.".
CAPTION_START = re.compile(
    r"(?P<word>fig(?:ure)?s?|image|img)\.?\s*(?P<num>\d{1,3})\s*(?P<sub>[a-z](?:\s*(?:,|&|-|and)\s*[a-z])*)?"
    r"\s*(?:[.:)]|\s-|-\s|\s(?=[A-Z]))",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^[A-Z][A-Za-z /&'-]{0,40}:\s*$")
_DROPPED = re.compile(r"(?P<citation>(?<=[a-z]{3}[.,;:)])\d{1,3}(?:[,-]\d{1,3})*(?=\s|$))|(?P<run>([^\w\s])\3{5,})")
_LIGATURE_CHARS = re.compile("[\ufb00-\ufb06]")


@dataclass(frozen=True)
class CleanText:
    """A cleaned copy of ``source`` with the source offset of each character."""

    source: str
    text: str
    offsets: tuple[int, ...]
    #: clean-text offsets where a reference number glued to a word was dropped.
    citations: tuple[int, ...] = ()

    def span(self, start: int, end: int) -> Span:
        """The source span of clean-text characters ``[start, end)``."""
        if end <= start:
            position = self.offsets[start] if start < len(self.offsets) else len(self.source)
            return Span(position, position)
        return Span(self.offsets[start], self.offsets[end - 1] + 1)


def _is_break(previous: str, following: str) -> bool:
    """Whether the line break between two lines is real (not a PDF wrap)."""
    prev, nxt = previous.rstrip(), following
    if not prev.strip() or not nxt.strip():
        return True
    if nxt[0].isspace():
        return True
    if CAPTION_START.match(nxt) or _HEADING.match(nxt.strip()) or _HEADING.match(prev.strip()):
        return True
    if nxt[0].islower() or nxt[0].isdigit() or nxt[0] in "(,;":
        return False
    if prev.endswith((".", ":", "!", "?")):
        return True
    if prev.endswith(("-", ",", "\u2013")):
        return False
    return len(prev) < 30


def _fold(segment: str, position: int, out: list[str], offsets: list[int]) -> None:
    """Append ``segment`` folded, with the source offset of each output character."""
    if not _LIGATURE_CHARS.search(segment):
        out.append(segment.translate(_FOLD))
        offsets.extend(range(position, position + len(segment)))
        return
    for offset, char in enumerate(segment):
        replacement = _LIGATURES.get(char) or char.translate(_FOLD)
        out.append(replacement)
        offsets.extend([position + offset] * len(replacement))


#: Words that begin a hyphenated compound, so a hyphen after them at a line end is the
#: compound's own ("ill-defined", "high-grade", "contrast-enhanced"), not a word broken in two.
_COMPOUND_FIRST = re.compile(r"(?<![\w-])(?:ill|well|high|low|self|fat|soft|thin|thick|air|fluid|ground|wedge|ring|"
                             r"rim|round|double|long|short|full|part|time|contrast|non|fine|T1|T2|x|iso|bone|left|"
                             r"right|anterior|posterior|medial|lateral|upper|lower|age|dose|image|ultrasound|CT|MR|MRI|"
                             r"open|closed|\w{2,}ing)-$", re.IGNORECASE)  # "relapsing-remitting"


def clean(source: str) -> CleanText:
    """Join PDF-wrapped lines, rejoin hyphenated words, fold ligatures and dashes.

    Also dropped, with their offsets: reference numbers glued to words, and all but three
    characters of a run of one punctuation mark (rules of dashes or dots in PDF text).
    """
    lines = source.split("\n")
    out: list[str] = []
    offsets: list[int] = []
    position = 0
    for index, line in enumerate(lines):
        trailing = len(line) - len(line.rstrip())
        if index + 1 < len(lines):
            nxt = lines[index + 1]
            is_break = _is_break(line, nxt)
        else:
            nxt, is_break = "", True
        stripped = line.rstrip()
        hyphen_join = (not is_break and stripped.endswith("-") and len(stripped) > 1
                       and stripped[-2].isalpha() and nxt[:1].islower()
                       and not re.match(r"(and|or|to)\b", nxt))
        segment = line if is_break else line[: len(line) - trailing]
        if hyphen_join and not _COMPOUND_FIRST.search(stripped):
            segment = segment[:-1]  # "enhance-/ment": one word; "ill-/defined" keeps its hyphen
        _fold(segment, position, out, offsets)
        if index + 1 < len(lines):
            newline_at = position + len(line)
            if is_break:
                out.append("\n")
                offsets.append(newline_at)
            elif not hyphen_join and not stripped.endswith(("-", "\u2013")):
                out.append(" ")
                offsets.append(newline_at)
        position += len(line) + 1
    text = "".join(out)
    keep_text: list[str] = []
    keep_offsets: list[int] = []
    citations: list[int] = []
    last = 0
    for match in _DROPPED.finditer(text):
        start = match.start() if match.group("citation") else match.start() + 3
        keep_text.append(text[last:start])
        keep_offsets.extend(offsets[last:start])
        if match.group("citation"):
            citations.append(len(keep_offsets))
        last = match.end()
    keep_text.append(text[last:])
    keep_offsets.extend(offsets[last:])
    return CleanText(source, "".join(keep_text), tuple(keep_offsets), tuple(citations))
