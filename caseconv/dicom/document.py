"""Wrap a content tree in an SR document (SOP instance), with or without the study's images.

With images (`images=`, ordered by `caseconv.dicom.images.ordered`), they are
highdicom's evidence: patient and study come from the first (the latest study), every
image is listed in Current Requested Procedure Evidence (other studies' in Pertinent
Other Evidence), and what the images leave empty of Patient's Sex and Age is filled in
from the report. The SR's own UIDs then derive from the case and the images' SOP
Instance UIDs, and the content date defaults to the study's date and time. The rest of
this note is about the usual case, without images.

highdicom's SR classes take patient and study attributes from their first evidence
dataset and refuse to build without one. A case report has no images, so `_carrier()`
makes a dataset that only carries the derived patient and study attributes (see
`caseconv.ids`). It is an instance of nothing: the content tree references no instance
(checked), and the evidence sequence highdicom derives from the carrier is removed, so
the written SR points at no SOP instance that does not exist. Current Requested
Procedure Evidence is Type 1C, required only when instances are referenced.

Deterministic: every UID derives from the case text, and the clock is never read. The
content date defaults to `DEFAULT_CONTENT_DATETIME` (the Unix epoch, plainly not a real
reporting time, since a published case carries none); pass `content_datetime` to stamp
a real time.

Speed (median, 2-core machine, build and write): without images 40-70 ms for the
cases' 5-11 measurement groups (TID 2000: 20-35 ms), about a third each in highdicom's
SR constructor (a deep copy of the tree plus its evidence search), building the
templates, and pydicom's writer. With images the cost grows with the image references
(~1 ms each): 40-190 ms for a 19-image study, 60-540 ms when every series has 30
instances. Ideas if it matters: assemble the SR dataset with pydicom from the highdicom
tree (no deep copy, no evidence search; loses highdicom's SOP-level checks), or build
the template items once per concept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, datetime, time

import highdicom.sr as hsr
from pydicom import Dataset
from pydicom.uid import Comprehensive3DSRStorage, EnhancedSRStorage
from pydicom.valuerep import DA, DT, TM

from caseconv import __version__
from caseconv.ids import dicom_uid, patient_id, study_instance_uid
from caseconv.model import Age, CaseReport

#: The content date and time of an SR when the caller gives none.
DEFAULT_CONTENT_DATETIME = datetime(1970, 1, 1, 0, 0, 0)

_SEX = {"male": "M", "female": "F", "other": "O"}
_AGE_UNITS = {"a": "Y", "mo": "M", "wk": "W", "d": "D"}
_SOP_CLASSES = {"1500": (Comprehensive3DSRStorage, hsr.Comprehensive3DSR),
                "2000": (EnhancedSRStorage, hsr.EnhancedSR)}


def patient_age(age: Age | None) -> str | None:
    """PatientAge (AS, "070Y"), or None when the age does not fit three digits."""
    if age is None:
        return None
    value, unit = age.value, age.unit
    if unit == "a" and value != int(value):  # 1.5 years -> 018M
        value, unit = value * 12, "mo"
    value = int(round(value))
    return f"{value:03d}{_AGE_UNITS[unit]}" if value < 1000 else None


def _carrier(report: CaseReport, sop_class_uid: str) -> Dataset:
    """Patient and study attributes in the shape highdicom reads from evidence."""
    ds = Dataset()
    ds.SOPClassUID = sop_class_uid  # not an image: highdicom adds no acquisition equipment
    ds.SOPInstanceUID = dicom_uid(report, "sr-carrier")
    ds.StudyInstanceUID = study_instance_uid(report)
    ds.SeriesInstanceUID = dicom_uid(report, "sr-carrier-series")
    ds.PatientID = patient_id(report)
    ds.PatientName = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = _SEX.get(report.patient.sex or "", "")
    age = patient_age(report.patient.age)
    if age:
        ds.PatientAge = age
    ds.AccessionNumber = ""
    ds.StudyID = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: case texts are not all ASCII
    return ds


_REFERENCE_TYPES = {"IMAGE", "COMPOSITE", "WAVEFORM"}
#: Control characters a text value may not hold (PS3.5 6.1.3): UT keeps LF, FF and CR;
#: a code meaning (LO) none. Each becomes a space.
_UT_CONTROLS = re.compile(r"[\x00-\x09\x0b\x0e-\x1f\x7f]")
_LO_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _printable(item: Dataset) -> None:
    """Replace control characters in every text value and code meaning of the tree.

    The parser keeps the input's characters (its spans index into it), so a stray
    control character of the source reaches the writer; dciodvfy rejects it.
    """
    if "TextValue" in item and _UT_CONTROLS.search(item.TextValue):
        item.TextValue = _UT_CONTROLS.sub(" ", item.TextValue)
    for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
        for code in item.get(keyword, []):
            if _LO_CONTROLS.search(code.get("CodeMeaning", "")):
                code.CodeMeaning = _LO_CONTROLS.sub(" ", code.CodeMeaning)
    for child in item.get("ContentSequence", []):
        _printable(child)


def _references(item: Dataset) -> bool:
    """Whether any content item references an instance (a plain walk: highdicom's search is slower)."""
    return any(child.ValueType in _REFERENCE_TYPES or _references(child)
               for child in item.get("ContentSequence", []))


def study_datetime(image: Dataset) -> datetime | None:
    """Study Date and Time of an image as a datetime (midnight without a time), or None."""
    try:
        day = DA(str(image.get("StudyDate", "") or ""))
        moment = TM(str(image.get("StudyTime", "") or "")) if image.get("StudyTime") else None
    except ValueError:
        return None
    if not isinstance(day, date):
        return None
    clock = moment if isinstance(moment, time) else time(0, 0)
    return datetime.combine(day, clock.replace(tzinfo=None))


def images_key(images: Sequence[Dataset]) -> str:
    """A digest of the images' SOP Instance UIDs: part of the SR's UIDs when it has images."""
    uids = sorted(str(ds.SOPInstanceUID) for ds in images)
    return hashlib.sha256("\\".join(uids).encode("ascii")).hexdigest()[:32]


def _fill_patient(sr: Dataset, report: CaseReport) -> None:
    """Patient's Sex and Age from the report where the images leave them empty."""
    if not sr.get("PatientSex"):
        sr.PatientSex = _SEX.get(report.patient.sex or "", "")
    age = patient_age(report.patient.age)
    if age and not sr.get("PatientAge"):
        sr.PatientAge = age


def assemble(report: CaseReport, content: hsr.ContentSequence, template: str,
             content_datetime: datetime | None = None,
             images: Sequence[Dataset] | None = None) -> Dataset:
    """The SR document of `report` with `content` as its tree (template "1500" or "2000").

    `images`, when given, must already be in `images.ordered` order; the tree may
    reference only them.
    """
    sop_class_uid, sr_class = _SOP_CLASSES[template]
    root = content[0]
    _printable(root)
    role: tuple[str, ...] = ()
    if images:
        evidence = list(images)
        role = ("images", images_key(evidence))
        when = content_datetime or study_datetime(evidence[0]) or DEFAULT_CONTENT_DATETIME
    else:
        if _references(root):
            raise ValueError("an imageless SR must not reference instances")
        evidence = [_carrier(report, sop_class_uid)]
        when = content_datetime or DEFAULT_CONTENT_DATETIME
    sr = sr_class(
        evidence=evidence,
        content=root,
        series_instance_uid=dicom_uid(report, "sr-series", template, *role),
        series_number=1,
        sop_instance_uid=dicom_uid(report, "sr", template, *role),
        instance_number=1,
        manufacturer="caseconv",
        manufacturer_model_name="caseconv",
        software_versions=__version__,
        is_complete=True,
        record_evidence=bool(images),
        content_date=when.date(),
        content_time=when.time(),
        series_description=f"caseconv TID {template}",
        specific_character_set="ISO_IR 192",  # UTF-8: case texts are not all ASCII
    )
    if images:
        _fill_patient(sr, report)
    else:
        for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
            if keyword in sr:
                delattr(sr, keyword)
    # highdicom stamps its own clock here and in the Contributing Equipment it adds
    sr.InstanceCreationDate = DA(when.date())
    sr.InstanceCreationTime = TM(when.time())
    for equipment in sr.get("ContributingEquipmentSequence", []):
        equipment.ContributionDateTime = DT(when)
    return sr
