"""The fixed concepts the SR writers use, all taken from pydicom's PS3.16 code dictionary.

Knowledge in data: every coded choice the writers make (what "uncertain" is, what a
two-number measurement measures) is a row here, named by its pydicom keyword and the
CID it is drawn from, never a code typed from memory. `resolve()` looks each keyword up
in `pydicom.sr.codedict.codes` when the module loads, so a keyword pydicom does not know
fails at import, not in a written file.
"""

from __future__ import annotations

from functools import cache

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code as PydicomCode

from caseconv.model import Code

#: (scheme, pydicom keyword) of each fixed concept, with where PS3.16 puts it.
CONCEPTS: dict[str, tuple[str, str]] = {
    # TID 1500 / TID 1501 structure
    "document_title": ("DCM", "ImagingMeasurementReport"),  # CID 7021
    "procedure_reported": ("DCM", "ProcedureReported"),  # TID 1500 row 4
    "device": ("DCM", "Device"),  # CID 270 "Observer Type"
    "finding": ("DCM", "Finding"),  # TID 1501 row "Finding"; CID 7002
    "finding_site": ("SCT", "FindingSite"),  # CID 9000
    "laterality": ("SCT", "Laterality"),  # CID 210 (modifier type)
    "comment": ("DCM", "Comment"),  # CID 12101; uncoded measurement text
    # presence of a finding: name DCM 121052, values from CID 240 "Present Absent"
    "presence": ("DCM", "PresenceOfProperty"),
    "present": ("SCT", "Present"),  # CID 240
    "absent": ("SCT", "Absent"),  # CID 240
    "uncertain": ("SCT", "Undetermined"),  # CID 240
    # laterality values, CID 244 "Laterality"
    "left": ("SCT", "Left"),
    "right": ("SCT", "Right"),
    "bilateral": ("SCT", "Bilateral"),
    # report-level evaluations (diagnosis and differentials), CID 7002 / PS3.16 DCM table
    "impression": ("DCM", "Impression"),  # 121073, CID 7002
    "differential": ("DCM", "DifferentialDiagnosisImpression"),  # 111023
    # TID 2000 Basic Diagnostic Imaging Report: title CID 7000, headings CID 7001,
    # narrative element names CID 7002
    "diagnostic_imaging_report": ("LN", "DiagnosticImagingReport"),  # 18748-4, CID 7000
    "history_section": ("LN", "History"),  # 11329-0, CID 7001 (and 7002 as an element)
    "procedure_section": ("LN", "CurrentProcedureDescriptions"),  # 55111-9, CID 7001
    "findings_section": ("LN", "Findings"),  # 59776-5, CID 7001
    "impressions_section": ("LN", "Impressions"),  # 19005-8, CID 7001
    "procedure_description": ("DCM", "ProcedureDescription"),  # 121065, CID 7002
    # purpose of an image reference in TID 2002, CID 7003
    "best_illustration": ("DCM", "BestIllustrationOfFinding"),  # 121080
}

#: What a number measures, by `Measurement.kind`: CID 7470 "Linear Measurement", plus
#: SCT Area and Volume (CID 7469 "Generic Intensity and Size Measurement").
KINDS: dict[str, tuple[str, str]] = {
    "long axis": ("SCT", "LongAxis"),
    "short axis": ("SCT", "ShortAxis"),
    "diameter": ("SCT", "Diameter"),
    "length": ("SCT", "Length"),
    "width": ("SCT", "Width"),
    "depth": ("SCT", "Depth"),
    "perpendicular axis": ("SCT", "PerpendicularAxis"),
    "area": ("SCT", "Area"),
    "volume": ("SCT", "Volume"),
}

#: Kinds assumed for numbers written without one, by how many there are:
#: "3 cm" is a diameter, "12 x 11 cm" long and short axis (the larger is the long axis),
#: "5 x 4 x 3 cm" length, width and depth in the order written.
DEFAULT_KINDS: dict[int, tuple[str, ...]] = {
    1: ("diameter",),
    2: ("long axis", "short axis"),
    3: ("length", "width", "depth"),
}

#: Acquisition modality codes (CID 29), by the model's modality abbreviation. OT is CID 32/33.
_MODALITY_CIDS = (codes.CID29, codes.CID33)

#: PS3.5: Code Meaning is an LO, at most 64 characters.
MAX_MEANING = 64


def _lookup(scheme: str, keyword: str) -> CodedConcept:
    code = getattr(getattr(codes, scheme), keyword)
    return CodedConcept(code.value, code.scheme_designator, code.meaning)


def resolve(table: dict[str, tuple[str, str]]) -> dict[str, CodedConcept]:
    """Look up every row of a concept table in pydicom's dictionary."""
    return {name: _lookup(*row) for name, row in table.items()}


C: dict[str, CodedConcept] = resolve(CONCEPTS)
KIND_CODES: dict[str, CodedConcept] = resolve(KINDS)


@cache
def _index(scheme: str) -> dict[str, PydicomCode]:
    collection = getattr(codes, scheme)
    return {getattr(collection, kw).value: getattr(collection, kw) for kw in collection.dir()}


def ucum(unit: str) -> CodedConcept | None:
    """The UCUM concept pydicom knows for a unit string, or None (the caller keeps text)."""
    code = _index("UCUM").get(unit)
    return None if code is None else CodedConcept(code.value, "UCUM", code.meaning)


@cache
def modality(abbreviation: str) -> CodedConcept | None:
    """The DCM acquisition-modality concept (CID 29; OT from CID 33) for "MR", "CT", ..."""
    for cid in _MODALITY_CIDS:
        for kw in cid.dir():
            code = getattr(cid, kw)
            if code.scheme_designator == "DCM" and code.value == abbreviation:
                return CodedConcept(code.value, "DCM", code.meaning)
    return None


def _meaning(display: str) -> str:
    if len(display) <= MAX_MEANING:
        return display
    # "Magnetic resonance imaging of ... (procedure)": drop the SNOMED semantic tag first
    if display.endswith(")") and " (" in display:
        display = display[: display.rindex(" (")]
    return display if len(display) <= MAX_MEANING else display[: MAX_MEANING - 3].rstrip() + "..."


def coded(code: Code) -> CodedConcept:
    """A model `Code` as a highdicom concept, its meaning cut to fit an LO."""
    return CodedConcept(code.value, code.scheme, _meaning(code.display))

#: TID 1500 "Qualitative Evaluations" container: not in pydicom's dictionary; taken from
#: ../shared/terminology/sts_psoas-codes.csv (verified in the HL7 "DICOM SR to FHIR" guide).
QUALITATIVE_EVALUATIONS = CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
