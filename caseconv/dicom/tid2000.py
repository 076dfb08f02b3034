"""The TID 2000 Basic Diagnostic Imaging Report content tree of a `CaseReport` (Enhanced SR).

The narrative form for readers that do not speak TID 1500: a section per CID 7001
heading (History, Current Procedure Descriptions, Findings, Impressions), each holding
TID 2002 narrative items named from CID 7002. Every item is TEXT, as the case states
it; a CODE item follows when the coder found a code. A finding that is absent or
uncertain is never coded here (a CODE "Finding" would assert it): its text says so.
Measurements and sites stay in the text; the TID 1500 SR carries them coded.

With images, a finding's TEXT item is INFERRED FROM the images its figures were matched
to, as "Best illustration of finding" (TID 2002's image row, CID 7003).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import highdicom.sr as hsr
from highdicom.sr import CodedConcept, RelationshipTypeValues
from pydicom import Dataset

from caseconv.dicom.concepts import C, coded
from caseconv.dicom.tid1500 import observation_context
from caseconv.model import CaseReport, Code, Finding, HistoryItem

CONTAINS = RelationshipTypeValues.CONTAINS
INFERRED_FROM = RelationshipTypeValues.INFERRED_FROM


def _items(name: CodedConcept, text: str, code: Code | None) -> list[hsr.ContentItem]:
    items: list[hsr.ContentItem] = [hsr.TextContentItem(name, text, CONTAINS)]
    if code is not None:
        items.append(hsr.CodeContentItem(name, coded(code), CONTAINS))
    return items


def finding_text(finding: Finding) -> str:
    """The finding as a line: its text, laterality, sites and sizes, and presence."""
    text = finding.text
    sites = [s.text for s in finding.sites if s.text.lower() not in text.lower()]
    if sites:
        text += f" ({', '.join(sites)})"
    if finding.laterality and finding.laterality not in text.lower():
        text += f", {finding.laterality}"
    if finding.measurements:
        text += ", " + " x ".join(m.text for m in finding.measurements)
    if finding.presence != "present":
        text = f"{finding.presence}: {text}"
    return text


def _finding_items(finding: Finding, images: Sequence[Dataset]) -> list[hsr.ContentItem]:
    items = _items(C["finding"], finding_text(finding),
                   finding.code if finding.presence == "present" else None)
    if images:
        items[0].ContentSequence = hsr.ContentSequence([
            hsr.ImageContentItem(C["best_illustration"], referenced_sop_class_uid=ds.SOPClassUID,
                                 referenced_sop_instance_uid=ds.SOPInstanceUID,
                                 relationship_type=INFERRED_FROM) for ds in images])
    return items


def history_text(item: HistoryItem) -> str:
    text = item.text
    if item.laterality and item.laterality not in text.lower():
        text += f", {item.laterality}"
    if item.duration is not None:
        text += f", for {item.duration.value:g} {item.duration.unit}"
    return text


def _section(heading: CodedConcept, items: list[hsr.ContentItem]) -> hsr.ContainerContentItem:
    section = hsr.ContainerContentItem(heading, relationship_type=CONTAINS)
    section.ContentSequence = hsr.ContentSequence(items)
    return section


def diagnostic_imaging_report(report: CaseReport,
                              references: Mapping[int, Sequence[Dataset]] | None = None,
                              ) -> hsr.ContentSequence:
    """The root of the TID 2000 tree (a one-item sequence); empty sections are left out.

    `references` maps a finding index to the images that illustrate it.
    """
    references = references or {}
    sections: list[tuple[CodedConcept, list[hsr.ContentItem]]] = [
        (C["history_section"], [i for h in report.history
                                for i in _items(C["history_section"], history_text(h), h.code)]),
        (C["procedure_section"], [i for p in report.procedures
                                  for i in _items(C["procedure_description"], p.text, p.code)]),
        (C["findings_section"], [i for n, f in enumerate(report.findings)
                                 for i in _finding_items(f, references.get(n, ()))]),
        (C["impressions_section"], [i for d in sorted(report.diagnoses,
                                                       key=lambda d: d.status == "differential")
                                    for i in _items(C["differential"] if d.status == "differential"
                                                    else C["impression"], d.text, d.code)]),
    ]
    sections = [(heading, items) for heading, items in sections if items]
    if not sections:
        raise ValueError(f"case {report.case!r} has nothing to report")
    root = hsr.ContainerContentItem(C["diagnostic_imaging_report"], template_id="2000")
    content = hsr.ContentSequence()
    content.extend(hsr.LanguageOfContentItemAndDescendants(hsr.templates.DEFAULT_LANGUAGE))
    content.extend(observation_context())
    content.extend(_section(heading, items) for heading, items in sections)
    root.ContentSequence = content
    return hsr.ContentSequence([root], is_root=True)
