"""Stage 1: text -> `CaseReport` (without codes).

Imports neither FHIR nor DICOM code. The tables in ``mappings/`` give the vocabulary
(what a finding head, an anatomic site, a modality or a symptom is called); the coding
stage gives codes.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import replace

from caseconv.coding.tables import Tables
from caseconv.model import CaseReport, Figure, Finding
from caseconv.parse import items
from caseconv.parse.blocks import FINDING_KINDS, Block, blocks
from caseconv.parse.findings import Mention, SentenceReader
from caseconv.parse.index import sentences
from caseconv.parse.measure import levels
from caseconv.parse.merge import merge, to_finding
from caseconv.parse.nlp import apply_context, parse_rules, pipeline
from caseconv.parse.text import CleanText, InputError, clean, decode

__all__ = ["InputError", "decode", "parse"]


def _cue(words: list[str]) -> re.Pattern[str]:
    parts = [re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else r"(?!\w)") for w in words]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")", re.IGNORECASE)


def _block_index(found: list[Block], doc: object) -> dict[int, Block]:
    """The block of each sentence start (a sentence belongs to the block it starts in)."""
    index: dict[int, Block] = {}
    ordered = sorted(found, key=lambda b: b.start)
    position = 0
    text = doc.text  # type: ignore[attr-defined]
    for sentence in sentences(doc).spans:
        body = text[sentence.start_char: sentence.end_char]
        start = sentence.start_char + len(body) - len(body.lstrip())
        while position + 1 < len(ordered) and ordered[position + 1].start <= start:
            position += 1
        if not ordered:
            break
        block = ordered[position]
        if not block.start <= start < max(block.end, block.start + 1):
            continue
        if block.kind == "heading" and position + 1 < len(ordered) and \
                ordered[position + 1].start < sentence.end_char:
            block = ordered[position + 1]  # "Findings: The appendix is dilated." belongs to the findings
        index[sentence.start_char] = block
    return index


def _line_levels(text: str) -> dict[int, list[tuple[str, int, int]]]:
    """Lines of a dictated report headed by a spinal level ("L4-L5: ..."): the level of each line."""
    result: dict[int, list[tuple[str, int, int]]] = {}
    for match in re.finditer(r"^[ \t]*([CTLS]\d{1,2}(?:\s?[-/]\s?[CTLS]?\d{1,2})?)\s*:", text, re.MULTILINE):
        found = levels(match.group(1), match.start(1))
        if found:
            result[match.start()] = [(found[0].text, found[0].start, found[0].end)]
    return result


#: "Liver: ...", "Kidneys: ..." at the start of a line: a dictated report's organ heading.
_ORGAN_HEADING = re.compile(r"^[ \t]*(?P<name>[A-Za-z][A-Za-z /-]{1,40}?)[ \t]*:", re.MULTILINE)


def _line_sites(text: str, tables: Tables) -> dict[int, list[tuple[str, int, int]]]:
    """Lines of a dictated report headed by an organ ("Gallbladder: distended with wall
    thickening"): the organ of each line, the site of its findings that name none."""
    result: dict[int, list[tuple[str, int, int]]] = {}
    for match in _ORGAN_HEADING.finditer(text):
        concept = tables.lookup("anatomy", match["name"])
        if concept is not None:
            result[match.start()] = [(concept.term, match.start("name"), match.end("name"))]
    return result


_FIGURE_REF = re.compile(r"\b(?:fig(?:ure)?s?)\.?\s*(?P<num>\d{1,3})\s*"
                         r"(?P<sub>[a-h](?:\s*(?:,|and|&|-)\s*[a-h])*)?(?!\w)", re.IGNORECASE)


def _figure_refs(text: str, before: int | None = None) -> list[tuple[str, str]]:
    """The figures a sentence points to: "(Fig. 1b, c)" -> ("1", "b"), ("1", "c"); only
    references that start before ``before``."""
    refs = []
    for match in _FIGURE_REF.finditer(text):
        if before is not None and match.start() >= before:
            break
        letters = re.findall(r"[a-h]", match["sub"] or "", re.IGNORECASE)
        if match["sub"] and "-" in match["sub"] and len(letters) == 2:
            letters = [chr(c) for c in range(ord(letters[0].lower()), ord(letters[1].lower()) + 1)]
        refs.extend((match["num"], letter.lower()) for letter in letters or [""])
    return refs


def _figure_number(label: str) -> tuple[str, str] | None:
    """A figure label's number and panel letter: "Fig 1b" -> ("1", "b"), "Figure 2" -> ("2", "")."""
    match = re.search(r"(\d+)([a-h]?)$", label)
    return (match.group(1), match.group(2)) if match is not None else None


def _names_figure(label: str, number: str, letter: str) -> bool:
    """Whether a figure label ("Fig 1b", "Figure 2") is the figure a reference names."""
    own = _figure_number(label)
    if own is None or own[0] != number:
        return False
    return not letter or not own[1] or own[1] == letter


def _side_of_study(mentions: list[Mention], reader: SentenceReader) -> None:
    """'MRI of the left knee showed a meniscal tear': a finding with no side of its own lies in
    the side the study covers, until the report names another study region in that block."""
    regions = [a for a in reader.anatomy if a.region]
    if not any(a.laterality in {"left", "right"} for a in regions):
        return
    starts = [a.start for a in regions]
    for mention in mentions:
        index = bisect_left(starts, mention.start) - 1
        if index < 0 or mention.laterality:
            continue
        region = regions[index]
        if region.laterality in {"left", "right"} and region.start >= mention.block.start:
            mention.laterality.add(region.laterality)


def _link_figures(figures: list[Figure], merged: list[Mention], findings: tuple[Finding, ...],
                  cleaned: CleanText) -> tuple[list[Figure], tuple[Finding, ...]]:
    """Each figure (or panel) lists the findings its caption states or the narrative points to
    with "(Fig. 1b, c)"; a caption's finding is told by the panel it sits in."""
    by_label: dict[str, list[int]] = {}
    panel_starts = sorted((f.span.start, f.span.end, f.label) for f in figures)
    by_number: dict[str, list[str]] = {}
    for figure in figures:
        if (own := _figure_number(figure.label)) is not None:
            by_number.setdefault(own[0], []).append(figure.label)
    starts = [start for start, _, _ in panel_starts]
    for index, mention in enumerate(merged):
        labels = dict.fromkeys([mention.source, *mention.labels])
        if mention.source != "narrative":  # a caption's finding belongs to the panel that names it
            where = cleaned.span(mention.start, mention.end).start
            at = bisect_left(starts, where + 1) - 1
            if at >= 0 and where < panel_starts[at][1]:
                labels = dict.fromkeys([panel_starts[at][2], *(label for label in labels if label != mention.source)])
        for number, letter in mention.figure_refs:  # "(Fig. 1b, c)" in the narrative
            labels.update(dict.fromkeys(label for label in by_number.get(number, [])
                                        if _names_figure(label, number, letter)))
        for label in labels:
            by_label.setdefault(label, []).append(index)
    labelled = [replace(figure, findings=tuple(by_label.get(figure.label, []))) for figure in figures]
    panel_of = {index: figure.label for figure in labelled for index in figure.findings
                if findings[index].source not in ("narrative", figure.label)
                and figure.label[:-1] == findings[index].source[:-1]}  # "Fig 1a" -> its panel "Fig 1b"
    findings = tuple(replace(f, source=panel_of.get(i, f.source)) for i, f in enumerate(findings))
    return labelled, findings


def parse(text: str, case: str, *, mappings: tuple[str, ...] = ()) -> CaseReport:
    """Read one case report. ``mappings`` adds a site's table folders to the shipped ones."""
    cleaned = clean(text)
    nlp, vocabulary = pipeline(mappings)
    doc = nlp(cleaned.text)
    found = blocks(cleaned, doc)
    kinds = _block_index(found, doc)
    # negation and hedging matter only where findings, history and diagnoses are read
    unread = {start for start, block in kinds.items() if block.kind in {"discussion", "ignore"}}
    apply_context(doc, vocabulary.context, skip=lambda sentence: sentence.start_char in unread)
    rules = parse_rules()
    imaging = _cue(rules["imaging_cues"])
    non_imaging = _cue(rules["non_imaging_cues"])
    bedside = _cue(rules["clinical_exam_cues"])
    clinical_course = _cue(rules["clinical_course_cues"])
    diagnosis_cue = _cue(rules["diagnosis_cues"] + rules["differential_cues"])
    reader = SentenceReader(cleaned, doc, vocabulary)
    mentions: list[Mention] = []
    document_sentences = sentences(doc)
    modality_sentences = {document_sentences.of(s).start_char for _, s, _ in vocabulary.modalities(doc)}
    previous_in_block: dict[int, list[Mention]] = {}
    imaging_context = False
    line_levels = _line_levels(cleaned.text)
    line_sites = _line_sites(cleaned.text, vocabulary.tables)
    newlines = [m.start() for m in re.finditer("\n", cleaned.text)] if line_levels or line_sites else []
    for sentence in document_sentences.spans:
        block = kinds.get(sentence.start_char)
        if block is None or block.kind not in FINDING_KINDS:
            # a study heading ("CT Brain") carries imaging on; a section heading ("Case report") does not
            imaging_context = imaging_context and block is not None and block.kind == "heading" and (
                sentence.start_char in modality_sentences or bool(imaging.search(
                    cleaned.text[sentence.start_char: sentence.end_char])))
            continue
        body = cleaned.text[sentence.start_char: sentence.end_char]
        names_study = sentence.start_char in modality_sentences
        reported = block.kind in {"findings", "impression", "caption"} or names_study or imaging.search(body)
        course = clinical_course.search(body) and not names_study
        if non_imaging.search(body) or diagnosis_cue.search(body) or course or (bedside.search(body) and not reported):
            imaging_context = False
            continue
        if block.kind == "narrative":
            # a narrative sentence reports imaging if it says so, or continues a sentence that did
            is_imaging = bool(imaging.search(body)) or names_study
            if not (is_imaging or imaging_context):
                imaging_context = False
                continue
            imaging_context = True
        found_here = reader.read(sentence, block)
        if block.kind != "caption":
            # "(Fig. 1b, c)": the sentencizer may end the sentence at "Fig."
            refs = _figure_refs(cleaned.text[sentence.start_char: sentence.end_char + 25], before=len(body))
            for mention in found_here:
                mention.figure_refs.extend(refs)
        before = bisect_left(newlines, sentence.start_char)  # the newlines before the sentence
        line_start = newlines[before - 1] + 1 if before else 0
        for level in line_levels.get(line_start, []):
            for mention in found_here:
                if not mention.levels:
                    mention.levels.append(level)
        for term, start, end in line_sites.get(line_start, []):
            for mention in found_here:
                if not mention.sites and not mention.dependent:
                    mention.sites[term] = (start, end, None)
        context = previous_in_block.setdefault(block.start, [])
        for mention in found_here:
            if mention.dependent and not mention.sites and mention.ref_key is None and context:
                anchor = next((m for m in context if not m.dependent), None) if block.kind == "caption" \
                    else next((m for m in reversed(context) if not m.dependent), None)
                if anchor is not None:
                    mention.ref_mention, mention.ref_key = anchor, anchor.key
        context.extend(found_here)
        mentions.extend(found_here)
    _side_of_study(mentions, reader)
    merged = merge(mentions)
    findings = tuple(to_finding(m, cleaned) for m in merged)
    patient = items.patient(cleaned, found)
    history = tuple(items.history(cleaned, doc, kinds, vocabulary))
    has_enhancement = any(m.key in {"enhancement", "rim enhancement"} and m.presence == "present" for m in merged)
    figures = items.figures(cleaned, found, None)
    procedures = items.procedures(cleaned, doc, kinds, vocabulary, figures, has_enhancement)
    main_modality = procedures[0].modality if len({p.modality for p in procedures}) == 1 else None
    figures = items.figures(cleaned, found, main_modality)
    labelled, findings = _link_figures(figures, merged, findings, cleaned)
    diagnoses = tuple(items.diagnoses(cleaned, doc, kinds, vocabulary))
    return CaseReport(case=case, text=text, patient=patient, procedures=tuple(procedures), history=history,
                      findings=findings, diagnoses=diagnoses, figures=tuple(labelled))
