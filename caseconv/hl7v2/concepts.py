"""The fixed codes of the ORU^R01 writer, each looked up in pydicom's PS3.16 dictionary.

Knowledge in data (STYLE.md principle 2): the observation identifiers (OBX-3) name the
same concepts the SR writer uses (TID 1500 / TID 1501), by pydicom keyword, so that an
ORU, an SR and a FHIR bundle of one case say the same thing with the same codes. A
keyword pydicom does not know fails when this module loads, never in a sent message.
Age and the measurement kinds come from the FHIR writer's verified table (`codes.json`).
"""

from __future__ import annotations

from functools import cache

from caseconv.fhir import terms
from caseconv.model import Code

#: name -> (scheme, pydicom keyword), with where PS3.16 puts the concept.
CONCEPTS: dict[str, tuple[str, str]] = {
    "report": ("LN", "DiagnosticImagingReport"),  # 18748-4, CID 7000: OBR-4 with no procedure
    "procedure_reported": ("DCM", "ProcedureReported"),  # 121058, TID 1500 row 4
    "finding": ("DCM", "Finding"),  # 121071, TID 1501
    "finding_site": ("SCT", "FindingSite"),  # 363698007, CID 9000
    "laterality": ("SCT", "Laterality"),  # 272741003
    "presence": ("DCM", "PresenceOfProperty"),  # 121052, values CID 240
    "present": ("SCT", "Present"),
    "absent": ("SCT", "Absent"),
    "uncertain": ("SCT", "Undetermined"),
    "left": ("SCT", "Left"),  # CID 244
    "right": ("SCT", "Right"),
    "bilateral": ("SCT", "Bilateral"),
    "impression": ("DCM", "Impression"),  # 121073: confirmed / provisional diagnosis
    "differential": ("DCM", "DifferentialDiagnosisImpression"),  # 111023
    "comment": ("DCM", "Comment"),  # 121106: levels, descriptors, unknown-unit numbers
    "narrative": ("LN", "Findings"),  # 59776-5, CID 7001: the report text, line by line
}


@cache
def concept(name: str) -> Code:
    """The model `Code` of a named concept (pydicom's meaning as display)."""
    from pydicom.sr.codedict import codes

    scheme, keyword = CONCEPTS[name]
    code = getattr(getattr(codes, scheme), keyword)
    return Code(scheme, code.value, code.meaning)


def _from_table(coding: dict[str, str] | None) -> Code | None:
    if coding is None:
        return None
    from caseconv.model import URI_SYSTEMS

    return Code(URI_SYSTEMS[coding["system"]], coding["code"], coding["display"])


def age() -> Code:
    """LOINC 30525-0 Age (the code the FHIR writer uses for the age Observation)."""
    code = _from_table(terms.coding("age"))
    assert code is not None
    return code


def measurement_kind(kind: str | None) -> Code | None:
    """CID 7470 concept of a measurement kind ("long axis", ...), or None when unknown."""
    return _from_table(terms.measurement_kind(kind))


def check() -> None:
    """Resolve every concept now (tests call it; a typo fails loudly)."""
    for name in CONCEPTS:
        concept(name)
