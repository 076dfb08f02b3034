"""Hand-made CaseReports for the FHIR writer tests (no parser involved)."""

from __future__ import annotations

from caseconv.model import (
    Age,
    CaseReport,
    Code,
    Diagnosis,
    Figure,
    Finding,
    Measurement,
    Patient,
    Procedure,
    Site,
    Span,
)

TEXT = (
    "Fig 1. Coronal T1W image after contrast shows the mass.\n"
    "A 70-year-old woman presented with low back pain.\n"
    "MRI of the lumbar spine showed a left psoas mass measuring 12.1 x 11.5 cm "
    "extending into the neural foramen. No lymphadenopathy. Bone involvement cannot be excluded.\n"
    "Diagnosis: soft tissue sarcoma. Differential: psoas abscess, metastases.\n"
)


def span(phrase: str, occurrence: int = 0) -> Span:
    """The span of a phrase in TEXT (so tests never hard-code offsets)."""
    start = -1
    for _ in range(occurrence + 1):
        start = TEXT.index(phrase, start + 1)
    return Span(start, start + len(phrase))


SCT = "SCT"
LUMBAR_SPINE = Code(SCT, "122496007", "Lumbar spine")
MUSCLE = Code(SCT, "71616004", "Muscle")
MRI_LUMBAR = Code("LN", "24968-0", "MR Lumbar spine")


def sample_report() -> CaseReport:
    """A finding with two measurements, sites and laterality; an absent one; an uncertain one;
    a confirmed diagnosis and two differentials; one figure showing the first finding."""
    mass = Finding(
        text="psoas mass", span=span("psoas mass"), code=None,
        sites=(Site("psoas", span("psoas"), MUSCLE), Site("neural foramen", span("neural foramen"))),
        laterality="left", levels=("L1", "L2"),
        measurements=(
            Measurement(12.1, "cm", "12.1", span("12.1"), "long axis"),
            Measurement(11.5, "cm", "11.5", span("11.5"), "short axis"),
        ),
        descriptors=("heterogeneous",),
    )
    nodes = Finding(text="lymphadenopathy", span=span("lymphadenopathy"), presence="absent")
    bone = Finding(text="Bone involvement", span=span("Bone involvement"), presence="uncertain")
    return CaseReport(
        case="fhir_sample", text=TEXT,
        patient=Patient(Age(70, "a", span("70-year-old")), "female", span("woman")),
        procedures=(Procedure("MRI of the lumbar spine", span("MRI of the lumbar spine"), "MR",
                              Site("lumbar spine", span("lumbar spine"), LUMBAR_SPINE), None, MRI_LUMBAR),),
        findings=(mass, nodes, bone),
        diagnoses=(
            Diagnosis("soft tissue sarcoma", span("soft tissue sarcoma"), None, "confirmed"),
            Diagnosis("psoas abscess", span("psoas abscess"), None, "differential"),
            Diagnosis("metastases", span("metastases"), None, "differential"),
        ),
        figures=(Figure("Fig 1", "Coronal T1W image after contrast shows the mass.",
                        span("Fig 1. Coronal T1W image after contrast shows the mass."),
                        ("T1W",), ("coronal",), "post", "MR", (0,)),),
    )


def minimal_report() -> CaseReport:
    """Only a case name and text: the writer must still give a valid bundle."""
    return CaseReport(case="empty", text="Nothing of note.\n")
