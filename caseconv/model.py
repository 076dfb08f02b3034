"""The `CaseReport`: the one typed object that passes between the pipeline's stages.

The parser builds it (without codes), the coder fills in codes, and the FHIR and
DICOM writers read it. Every part is a frozen dataclass that checks its own
arguments on construction, so a malformed report fails where it is made, with a
message naming the argument, rather than deep inside a writer.

`CaseReport.to_dict()` produces the JSON contract of `caseconv extract --format
json`; `CaseReport.from_dict()` reads it back (`from_dict(to_dict(x)) == x`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

#: DICOM coding scheme designators (PS3.16 Section 8) and the FHIR system URI of each.
SYSTEM_URIS: dict[str, str] = {
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "RADLEX": "http://www.radlex.org",
    "UCUM": "http://unitsofmeasure.org",
    "NCIt": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
    "UMLS": "http://www.nlm.nih.gov/research/umls",
}
URI_SYSTEMS: dict[str, str] = {uri: scheme for scheme, uri in SYSTEM_URIS.items()}

Presence = Literal["present", "absent", "uncertain"]
Laterality = Literal["left", "right", "bilateral"]
DiagnosisStatus = Literal["confirmed", "provisional", "differential"]
Contrast = Literal["with", "without", "with and without"]
Sex = Literal["female", "male", "other"]

PRESENCES = ("present", "absent", "uncertain")
LATERALITIES = ("left", "right", "bilateral")
STATUSES = ("confirmed", "provisional", "differential")
CONTRASTS = ("with", "without", "with and without")
SEXES = ("female", "male", "other")
#: UCUM units an age may carry.
AGE_UNITS = ("a", "mo", "wk", "d")
MODALITIES = ("MR", "CT", "DX", "CR", "US", "NM", "MG", "PT", "XA", "RF", "OT")


def _check_choice(name: str, value: Any, choices: tuple[str, ...], optional: bool = True) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")


@dataclass(frozen=True)
class Span:
    """Half-open character offsets ``[start, end)`` into the input text as read."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (isinstance(self.start, int) and isinstance(self.end, int)):
            raise ValueError(f"span offsets must be integers, not {self.start!r}, {self.end!r}")
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"span must satisfy 0 <= start <= end, not [{self.start}, {self.end}]")

    def to_list(self) -> list[int]:
        return [self.start, self.end]

    @classmethod
    def from_list(cls, value: list[int] | tuple[int, int]) -> Span:
        return cls(int(value[0]), int(value[1]))


@dataclass(frozen=True)
class Code:
    """A coded concept. ``scheme`` is the DICOM coding scheme designator (SCT, LN, ...).

    Two codes are equal when scheme and value are, whatever the display, as in DICOM.
    """

    scheme: str
    value: str
    display: str = field(compare=False)

    def __post_init__(self) -> None:
        if self.scheme not in SYSTEM_URIS:
            raise ValueError(f"code scheme must be one of {', '.join(SYSTEM_URIS)}, not {self.scheme!r}")
        _check_text("code value", self.value)
        _check_text("code display", self.display)

    @property
    def system(self) -> str:
        """The FHIR system URI of the scheme."""
        return SYSTEM_URIS[self.scheme]

    def to_dict(self) -> dict[str, str]:
        return {"system": self.system, "code": self.value, "display": self.display}

    @classmethod
    def from_dict(cls, value: dict[str, str] | None) -> Code | None:
        if value is None:
            return None
        system = value["system"]
        if system not in URI_SYSTEMS:
            raise ValueError(f"unknown code system {system!r}")
        return cls(URI_SYSTEMS[system], value["code"], value["display"])


def _code_dict(code: Code | None) -> dict[str, str] | None:
    return code.to_dict() if code else None


@dataclass(frozen=True)
class Quantity:
    """A value with a UCUM unit (durations, ages)."""

    value: float
    unit: str

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"quantity value must be a number, not {self.value!r}")
        _check_text("quantity unit", self.unit)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit}

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> Quantity | None:
        return cls(value["value"], value["unit"]) if value else None


@dataclass(frozen=True)
class Measurement:
    """One number of a measurement as written ("12.1x11.5 cm" gives two)."""

    value: float
    unit: str
    text: str
    span: Span
    #: ``long axis``, ``short axis``, ``diameter`` ...: what the number measures, when known.
    kind: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"measurement value must be a number, not {self.value!r}")
        if self.value < 0:
            raise ValueError(f"measurement value must not be negative, not {self.value!r}")
        _check_text("measurement unit", self.unit)

    @property
    def millimetres(self) -> float | None:
        """The value in mm for a length, else None."""
        factor = {"mm": 1.0, "cm": 10.0, "m": 1000.0}.get(self.unit)
        return None if factor is None else round(self.value * factor, 6)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "text": self.text,
                "span": self.span.to_list(), "kind": self.kind}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Measurement:
        return cls(value["value"], value["unit"], value["text"], Span.from_list(value["span"]),
                   value.get("kind"))


@dataclass(frozen=True)
class Site:
    """An anatomic site as written, with its code when a table knows it."""

    text: str
    span: Span | None = None
    code: Code | None = None

    def __post_init__(self) -> None:
        _check_text("site text", self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list() if self.span else None,
                "code": _code_dict(self.code)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Site:
        span = value.get("span")
        return cls(value["text"], Span.from_list(span) if span else None,
                   Code.from_dict(value.get("code")))


@dataclass(frozen=True)
class Age:
    value: float
    unit: str
    span: Span | None = None

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or self.value < 0:
            raise ValueError(f"age value must be a non-negative number, not {self.value!r}")
        _check_choice("age unit", self.unit, AGE_UNITS, optional=False)


@dataclass(frozen=True)
class Patient:
    age: Age | None = None
    sex: Sex | None = None
    sex_span: Span | None = None

    def __post_init__(self) -> None:
        _check_choice("patient sex", self.sex, SEXES)

    def to_dict(self) -> dict[str, Any]:
        age = None
        if self.age:
            age = {"value": self.age.value, "unit": self.age.unit,
                   "span": self.age.span.to_list() if self.age.span else None}
        return {"age": age, "sex": self.sex,
                "sex_span": self.sex_span.to_list() if self.sex_span else None}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Patient:
        age = value.get("age")
        sex_span = value.get("sex_span")
        return cls(
            Age(age["value"], age["unit"], Span.from_list(age["span"]) if age.get("span") else None)
            if age else None,
            value.get("sex"),
            Span.from_list(sex_span) if sex_span else None,
        )


@dataclass(frozen=True)
class Procedure:
    """An imaging procedure the report describes (modality, body region, contrast)."""

    text: str
    span: Span
    modality: str
    region: Site | None = None
    contrast: Contrast | None = None
    code: Code | None = None

    def __post_init__(self) -> None:
        _check_text("procedure text", self.text)
        _check_choice("procedure modality", self.modality, MODALITIES, optional=False)
        _check_choice("procedure contrast", self.contrast, CONTRASTS)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list(), "modality": self.modality,
                "region": self.region.to_dict() if self.region else None,
                "contrast": self.contrast, "code": _code_dict(self.code)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Procedure:
        region = value.get("region")
        return cls(value["text"], Span.from_list(value["span"]), value["modality"],
                   Site.from_dict(region) if region else None, value.get("contrast"),
                   Code.from_dict(value.get("code")))


@dataclass(frozen=True)
class HistoryItem:
    """A presenting complaint or relevant history, with duration and laterality."""

    text: str
    span: Span
    code: Code | None = None
    duration: Quantity | None = None
    laterality: Laterality | None = None

    def __post_init__(self) -> None:
        _check_text("history text", self.text)
        _check_choice("history laterality", self.laterality, LATERALITIES)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list(), "code": _code_dict(self.code),
                "duration": self.duration.to_dict() if self.duration else None,
                "laterality": self.laterality}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> HistoryItem:
        return cls(value["text"], Span.from_list(value["span"]), Code.from_dict(value.get("code")),
                   Quantity.from_dict(value.get("duration")), value.get("laterality"))


@dataclass(frozen=True)
class Finding:
    """One imaging finding of this patient."""

    text: str
    span: Span
    code: Code | None = None
    sites: tuple[Site, ...] = ()
    laterality: Laterality | None = None
    levels: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    presence: Presence = "present"
    source: str = "narrative"
    descriptors: tuple[str, ...] = ()
    #: the mapping-table term the parser recognised the finding by ("mass" for "soft tissue mass").
    concept: str | None = None

    def __post_init__(self) -> None:
        _check_text("finding text", self.text)
        _check_choice("finding laterality", self.laterality, LATERALITIES)
        _check_choice("finding presence", self.presence, PRESENCES, optional=False)
        _check_text("finding source", self.source)
        for name in ("sites", "levels", "measurements", "descriptors"):
            if not isinstance(getattr(self, name), tuple):
                raise ValueError(f"finding {name} must be a tuple")

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list(), "code": _code_dict(self.code),
                "sites": [s.to_dict() for s in self.sites], "laterality": self.laterality,
                "levels": list(self.levels),
                "measurements": [m.to_dict() for m in self.measurements],
                "presence": self.presence, "source": self.source,
                "descriptors": list(self.descriptors), "concept": self.concept}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Finding:
        return cls(
            value["text"], Span.from_list(value["span"]), Code.from_dict(value.get("code")),
            tuple(Site.from_dict(s) for s in value.get("sites", [])), value.get("laterality"),
            tuple(value.get("levels", [])),
            tuple(Measurement.from_dict(m) for m in value.get("measurements", [])),
            value.get("presence", "present"), value.get("source", "narrative"),
            tuple(value.get("descriptors", [])), value.get("concept"),
        )


@dataclass(frozen=True)
class Diagnosis:
    """The case diagnosis (confirmed or provisional) or one differential."""

    text: str
    span: Span
    code: Code | None = None
    status: DiagnosisStatus = "confirmed"

    def __post_init__(self) -> None:
        _check_text("diagnosis text", self.text)
        _check_choice("diagnosis status", self.status, STATUSES, optional=False)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list(), "code": _code_dict(self.code),
                "status": self.status}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Diagnosis:
        return cls(value["text"], Span.from_list(value["span"]), Code.from_dict(value.get("code")),
                   value.get("status", "confirmed"))


@dataclass(frozen=True)
class Figure:
    """A figure caption: what was acquired (sequences, planes, contrast) and what it shows."""

    label: str
    caption: str
    span: Span
    sequences: tuple[str, ...] = ()
    planes: tuple[str, ...] = ()
    contrast: str | None = None
    modality: str | None = None
    #: indices into `CaseReport.findings` of the findings the caption shows.
    findings: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_text("figure label", self.label)
        _check_choice("figure modality", self.modality, MODALITIES)
        _check_choice("figure contrast", self.contrast, ("with", "without", "pre and post", "post", "pre"))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "caption": self.caption, "span": self.span.to_list(),
                "sequences": list(self.sequences), "planes": list(self.planes),
                "contrast": self.contrast, "modality": self.modality,
                "findings": list(self.findings)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Figure:
        return cls(value["label"], value["caption"], Span.from_list(value["span"]),
                   tuple(value.get("sequences", [])), tuple(value.get("planes", [])),
                   value.get("contrast"), value.get("modality"), tuple(value.get("findings", [])))


@dataclass(frozen=True)
class Unmapped:
    """A term the parser found that no mapping table codes: kept as text, never dropped."""

    text: str
    span: Span | None
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "span": self.span.to_list() if self.span else None,
                "kind": self.kind}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Unmapped:
        span = value.get("span")
        return cls(value["text"], Span.from_list(span) if span else None, value["kind"])


@dataclass(frozen=True)
class CaseReport:
    """Everything caseconv understood of one case report, with spans into ``text``."""

    case: str
    text: str
    patient: Patient = field(default_factory=Patient)
    procedures: tuple[Procedure, ...] = ()
    history: tuple[HistoryItem, ...] = ()
    findings: tuple[Finding, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    figures: tuple[Figure, ...] = ()
    unmapped: tuple[Unmapped, ...] = ()
    #: the Study Instance UID of the images the case refers to, when the user supplies them
    #: (``convert --images``); without images it is derived from the text (`caseconv.ids`).
    study_uid: str | None = None

    def __post_init__(self) -> None:
        _check_text("case", self.case)
        if self.study_uid is not None and not (0 < len(self.study_uid) <= 64 and all(
                part.isdigit() for part in self.study_uid.split("."))):
            raise ValueError(f"study_uid must be a DICOM UID, not {self.study_uid!r}")
        if not isinstance(self.text, str):
            raise ValueError("text must be a string")
        for name in ("procedures", "history", "findings", "diagnoses", "figures", "unmapped"):
            if not isinstance(getattr(self, name), tuple):
                raise ValueError(f"{name} must be a tuple")
        for item in (*self.procedures, *self.history, *self.findings, *self.diagnoses, *self.figures):
            if item.span.end > len(self.text):
                raise ValueError(f"span {item.span.to_list()} lies outside the text of {self.case!r}")

    @property
    def digest(self) -> str:
        """SHA-256 of the source text: the seed of every derived identifier."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def to_dict(self, include_text: bool = True) -> dict[str, Any]:
        """The JSON contract of `caseconv extract --format json`."""
        result: dict[str, Any] = {
            "case": self.case,
            "patient": self.patient.to_dict(),
            "procedures": [p.to_dict() for p in self.procedures],
            "history": [h.to_dict() for h in self.history],
            "findings": [f.to_dict() for f in self.findings],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
            "figures": [f.to_dict() for f in self.figures],
            "unmapped": [u.to_dict() for u in self.unmapped],
        }
        if self.study_uid is not None:
            result["study_uid"] = self.study_uid
        if include_text:
            result["text"] = self.text
        return result

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> CaseReport:
        return cls(
            case=value["case"],
            text=value.get("text", ""),
            patient=Patient.from_dict(value.get("patient") or {}),
            procedures=tuple(Procedure.from_dict(p) for p in value.get("procedures", [])),
            history=tuple(HistoryItem.from_dict(h) for h in value.get("history", [])),
            findings=tuple(Finding.from_dict(f) for f in value.get("findings", [])),
            diagnoses=tuple(Diagnosis.from_dict(d) for d in value.get("diagnoses", [])),
            figures=tuple(Figure.from_dict(f) for f in value.get("figures", [])),
            unmapped=tuple(Unmapped.from_dict(u) for u in value.get("unmapped", [])),
            study_uid=value.get("study_uid"),
        )

    def replace(self, **changes: Any) -> CaseReport:
        return replace(self, **changes)


__all__ = [
    "Age", "CaseReport", "Code", "Diagnosis", "Figure", "Finding", "HistoryItem", "Measurement",
    "Patient", "Procedure", "Quantity", "Site", "Span", "Unmapped", "SYSTEM_URIS",
]
