"""What each part of a report is: title, caption, a headed section, the case narrative, or
the general discussion of the disease that follows the case in journal reports.

Headings come from medspaCy's sectionizer. Captions are lines that start with a figure
label. In a report without headings, a paragraph that cites the literature (reference
numbers glued to words) or talks about patients in general rather than this patient
starts the discussion, and the discussion runs until a paragraph names the patient again.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from caseconv.parse.nlp import parse_rules
from caseconv.parse.text import CAPTION_START, CleanText

#: Block kinds whose sentences can hold this patient's imaging findings.
FINDING_KINDS = frozenset({"findings", "impression", "narrative", "caption", "technique"})
#: Block kinds that are not about this patient, or not imaging.
SKIP_KINDS = frozenset({"discussion", "ignore", "title", "heading"})


@dataclass(frozen=True)
class Block:
    """A run of clean text with one role; ``label`` names a caption's figure."""

    start: int
    end: int
    kind: str
    label: str | None = None


def _cue_pattern(cues: list[str]) -> re.Pattern[str]:
    parts = []
    for cue in cues:
        escaped = re.escape(cue.rstrip("*"))
        parts.append(escaped + (r"\w*" if cue.endswith("*") else r"(?!\w)"))
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")", re.IGNORECASE)


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for index, char in enumerate(text):
        if char == "\n":
            spans.append((start, index))
            start = index + 1
    spans.append((start, len(text)))
    return spans


def _section_at(doc: Any) -> list[tuple[int, int, str, int]]:
    """(start char, end char, category, title end char) of each section the sectionizer found."""
    result = []
    for section in doc._.sections:
        if section.category is None:
            continue
        span = doc[section.section_span[0]: section.section_span[1]]
        title = doc[section.title_span[0]: section.title_span[1]] if section.title_span else span[:0]
        result.append((span.start_char, span.end_char, section.category, title.end_char))
    return result


def _label(match: re.Match[str]) -> str:
    word = match["word"].lower()
    word = {"fig": "Fig", "figs": "Fig", "figure": "Figure", "figures": "Figure", "image": "Image",
            "img": "Image"}[word]
    sub = re.sub(r"\s+", "", match["sub"] or "")
    return f"{word} {match['num']}{sub}"


def _is_title(line: str) -> bool:
    words = re.findall(r"[A-Za-z][\w'-]*", line)
    if not 2 <= len(words) <= 30 or line.rstrip().endswith((".", ":")):
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised / len(words) >= 0.6


def _is_plain_title(line: str, text: str, end: int) -> bool:
    """A title in sentence case ("Spinal epidural abscess complicating discitis: a case report"):
    the first line, a few words without a full stop, standing alone before a blank line or
    naming itself a case report."""
    words = re.findall(r"[A-Za-z][\w'-]*", line)
    if not 3 <= len(words) <= 30 or line.rstrip().endswith((".", ":", ";", ",")):
        return False
    alone = text[end: end + 2] == "\n\n" or not text[end: end + 3].strip()  # a blank line, or the end
    return alone or bool(re.search(r"\bcase (?:report|study|series)\b", line, re.IGNORECASE))


#: A line naming an imaging study, standing alone: "CT Head non-contrast", "MRI Brain with contrast".
_STUDY_HEADING = re.compile(
    r"(?:(?:non-?contrast|contrast-?enhanced|unenhanced|plain)\s+)?(?:CT|CTA|MRI|MR|MRA|MRV|US|ultrasound|"
    r"ultrasonography|sonography|doppler|x-?ray|radiographs?|mammogra(?:m|phy)|PET(?:[-/]CT)?|SPECT|"
    r"fluoroscopy|angiogra(?:m|phy)|DSA|echocardiogra(?:m|phy)|bone scan)\b[\w\s,/()+-]*:?", re.IGNORECASE)


def blocks(clean: CleanText, doc: Any) -> list[Block]:
    """Split the clean text into blocks of one kind each, in order."""
    rules = parse_rules()
    discussion = _cue_pattern(rules["discussion_cues"])
    patient = _cue_pattern(rules["patient_cues"])
    strong_patient = re.compile(r"\d+[- ]?(?:year|yr|month|week|day)s?[- ]old|\b(?:the|our|this) patient\b",
                                re.IGNORECASE)
    text = clean.text
    sections = _section_at(doc)

    section_starts = [start for start, _, _, _ in sections]

    def section_of(position: int) -> tuple[str | None, int]:
        # sections are in document order and do not overlap: the last one starting at or before
        index = bisect_right(section_starts, position) - 1
        if index >= 0 and position < sections[index][1]:
            return sections[index][2], sections[index][3]
        return None, -1

    result: list[Block] = []
    study: str | None = None  # the kind a study heading opens, until the next section heading
    in_discussion = False
    seen_content = False
    paragraph_discussion: bool | None = None
    previous_blank = True
    caption: list[Any] | None = None
    for start, end in _line_spans(text):
        line = text[start:end]
        if not line.strip():
            previous_blank, caption, paragraph_discussion = True, None, None
            continue
        category, title_end = section_of(start)
        if title_end > start:
            study = None
        elif previous_blank and _STUDY_HEADING.fullmatch(line.strip()) and len(line.split()) <= 6:
            # "CT Head non-contrast" on a line of its own: a teaching file's study heading
            result.append(Block(start, end, "heading"))
            study, caption = "findings", None
            continue
        category = study or category
        if title_end > start:
            result.append(Block(start, min(title_end, end), "heading"))
            if title_end >= end:
                previous_blank = True
                continue
            start = title_end
            line = text[start:end]
        indented = line[:1].isspace()
        body_start = start + len(line) - len(line.lstrip())
        match = CAPTION_START.match(text, body_start, end)
        if match:
            caption = [body_start, end, _label(match)]
            result.append(Block(body_start, end, "caption", caption[2]))
            previous_blank = False
            continue
        continues = caption is not None and not text[caption[0]:caption[1]].rstrip().endswith((".", "!", "?"))
        if continues and not indented and category in (None, "captions", "narrative"):
            last = result[-1]
            caption[1] = end
            result[-1] = Block(last.start, end, "caption", last.label)
            continue
        caption = None
        new_paragraph = previous_blank or indented
        previous_blank = False
        if category not in (None, "narrative"):
            kind = "findings" if category == "captions" else category
            result.append(Block(start, end, kind))
            in_discussion = category == "discussion" or (in_discussion and category == "discussion")
            seen_content = True
            continue
        if not seen_content and (_is_title(line) or _is_plain_title(line, text, end)):
            result.append(Block(start, end, "title"))
            seen_content = True
            continue
        seen_content = True
        if new_paragraph or paragraph_discussion is None:
            paragraph_end = text.find("\n\n", start)
            paragraph = text[start: paragraph_end if paragraph_end >= 0 else len(text)]
            cited = any(start <= c < start + len(paragraph) for c in clean.citations)
            general = len(discussion.findall(paragraph)) >= 2
            if in_discussion:
                in_discussion = not strong_patient.search(paragraph)
            elif (cited or general) and not patient.search(paragraph):
                in_discussion = True
            paragraph_discussion = in_discussion
        result.append(Block(start, end, "discussion" if paragraph_discussion else "narrative"))
    return result
