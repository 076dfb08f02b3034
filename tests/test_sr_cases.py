"""SRs of the real cases (../shared/cases): both templates, with and without images, validated.

Every case is parsed and coded once; its SR is written for TID 1500 and TID 2000 with no
images, with pydicom's `MR_small.dcm` alone, and with a stand-in study made from it (one
series per sequence and plane the captions name), then checked by dciodvfy (no `Error`
line) and DCMTK's dsrdump (exit 0, no `E:` line). With images, the SR must carry the
images' patient and study, list every image as evidence, and reference from each group
exactly the images of the series its figures were matched to.
"""

from __future__ import annotations

import copy
import random
from functools import cache
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.uid import CTImageStorage

import caseconv
from caseconv import ids
from caseconv.dicom import TEMPLATES, build_sr, sr_bytes, write_sr
from caseconv.dicom.images import finding_images, ordered
from caseconv.dicom.validate import dciodvfy_problems, dsrdump_problems, readback_problems, tools
from caseconv.model import CaseReport

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
CASE_NAMES = sorted(p.stem for p in CASES.glob("*.txt")) if CASES.is_dir() else []
IMAGE_SETS = ("none", "mr_small", "study")

#: Image Orientation (Patient) of each plane, as scanners write them.
ORIENTATIONS = {"axial": [1, 0, 0, 0, 1, 0], "coronal": [1, 0, 0, 0, 0, -1],
                "sagittal": [0, 1, 0, 0, 0, -1]}
#: The stand-in study: (Series Description, plane, modality), one series each.
STUDY_SERIES = (("COR STIR", "coronal", "MR"), ("AX T1 +C", "axial", "MR"),
                ("SAG T2 STIR", "sagittal", "MR"), ("AX FLAIR", "axial", "MR"),
                ("SAG T1", "sagittal", "MR"), ("AX SWI", "axial", "MR"),
                ("Localizer", "coronal", "MR"), ("AX CT", "axial", "CT"),
                ("COR CT", "coronal", "CT"))


def mr_small() -> Dataset:
    return pydicom.dcmread(get_testdata_file("MR_small.dcm"))


def stand_in_study(instances_per_series: int = 2) -> list[Dataset]:
    """MR_small and copies of it as other series of its study (only what matching reads changes)."""
    original = mr_small()
    study = [original]
    for number, (description, plane, modality) in enumerate(STUDY_SERIES, start=2):
        for index in range(instances_per_series):
            ds = copy.deepcopy(original)
            ds.SeriesDescription = description
            ds.ImageOrientationPatient = ORIENTATIONS[plane]
            ds.SeriesInstanceUID = f"{original.SeriesInstanceUID}.{number}"
            ds.SeriesNumber = number
            ds.SOPInstanceUID = f"{original.SOPInstanceUID}.{number}.{index + 1}"
            ds.InstanceNumber = index + 1
            if modality == "CT":
                ds.Modality, ds.SOPClassUID = "CT", CTImageStorage
            if description == "Localizer":
                ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
            study.append(ds)
    return study


def images_of(kind: str) -> list[Dataset] | None:
    return {"none": None, "mr_small": [mr_small()], "study": stand_in_study()}[kind]


@cache
def case_report(name: str) -> CaseReport:
    return caseconv.extract((CASES / f"{name}.txt").read_text(encoding="utf-8"), name)


@pytest.fixture(params=CASE_NAMES or ["(none)"])
def case(request: pytest.FixtureRequest) -> CaseReport:
    if not CASE_NAMES:
        pytest.skip(f"reference cases not found: {CASES} (the shared folder beside the repository)")
    return case_report(request.param)


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(BytesIO(data))


def walk(item: Dataset):
    for child in item.get("ContentSequence", []):
        yield child
        yield from walk(child)


def referenced(item: Dataset) -> list[str]:
    """SOP Instance UIDs of the IMAGE items anywhere under `item`."""
    return [c.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for c in walk(item) if c.ValueType == "IMAGE"]


def evidence(ds: Dataset, keyword: str = "CurrentRequestedProcedureEvidenceSequence") -> set[str]:
    return {sop.ReferencedSOPInstanceUID for study in ds.get(keyword, [])
            for series in study.ReferencedSeriesSequence for sop in series.ReferencedSOPSequence}


# --- the validators, on every case, template and image set ----------------------------------

@pytest.mark.parametrize("images", IMAGE_SETS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_validators_accept_every_case(case: CaseReport, template: str, images: str, tmp_path: Path):
    path = tmp_path / f"{case.case}-{template}-{images}.dcm"
    write_sr(case, path, template=template, images=images_of(images))
    assert readback_problems(path) == []
    found = tools()
    missing = [name for name, where in found.items() if where is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/deps/dicom.sh installs them)")
    assert dciodvfy_problems(path, found["dciodvfy"]) == []
    assert dsrdump_problems(path, found["dsrdump"]) == []


# --- without images ---------------------------------------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
def test_without_images_study_is_derived_and_nothing_is_referenced(case: CaseReport, template: str):
    ds = read(sr_bytes(case, template=template))
    assert ds.StudyInstanceUID == ids.study_instance_uid(case)
    assert ds.PatientID == ids.patient_id(case)
    assert referenced(ds) == []
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds
    assert "PertinentOtherEvidenceSequence" not in ds


# --- with images ------------------------------------------------------------------------------

@pytest.mark.parametrize("template", TEMPLATES)
def test_with_images_patient_study_and_evidence_come_from_the_images(case: CaseReport, template: str):
    study = stand_in_study()
    first = study[0]
    ds = read(sr_bytes(case, template=template, images=study))
    for keyword in ("PatientID", "PatientName", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber"):
        assert ds.get(keyword) == first.get(keyword), keyword
    assert ds.ContentDate == first.StudyDate  # no content_datetime: the study's
    assert evidence(ds) == {str(image.SOPInstanceUID) for image in study}
    assert set(referenced(ds)) <= evidence(ds)
    if case.patient.age is not None:  # MR_small has no Patient's Age: the report's fills it
        assert ds.PatientAge.endswith("Y")


def finding_of_group(case: CaseReport, group: Dataset) -> int:
    uids = [c.UID for c in group.ContentSequence if c.ValueType == "UIDREF"]
    (index,) = [i for i in range(len(case.findings)) if ids.dicom_uid(case, "finding", str(i)) in uids]
    return index


def test_tid1500_groups_reference_the_images_of_their_figures(case: CaseReport):
    study = stand_in_study()
    expected = finding_images(case, ordered(study))
    ds = read(sr_bytes(case, images=study))
    (imaging,) = [c for c in ds.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "126010"]
    for group in imaging.ContentSequence:
        index = finding_of_group(case, group)
        images = [c for c in group.ContentSequence if c.ValueType == "IMAGE"]
        assert [c.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for c in images] == \
            [str(i.SOPInstanceUID) for i in expected.get(index, [])], case.findings[index].text
        for item in images:
            assert item.RelationshipType == "CONTAINS"
            assert item.ConceptNameCodeSequence[0].CodeValue == "121112"  # Source of Measurement


def test_tid2000_findings_are_inferred_from_their_figures_images(case: CaseReport):
    study = stand_in_study()
    expected = finding_images(case, ordered(study))
    ds = read(sr_bytes(case, template="2000", images=study))
    (section,) = [c for c in ds.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "59776-5"]
    texts = [c for c in section.ContentSequence if c.ValueType == "TEXT"]
    assert len(texts) == len(case.findings)
    for index, item in enumerate(texts):
        refs = list(item.get("ContentSequence", []))
        assert [r.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for r in refs] == \
            [str(i.SOPInstanceUID) for i in expected.get(index, [])]
        for ref in refs:
            assert ref.RelationshipType == "INFERRED FROM"
            assert ref.ConceptNameCodeSequence[0].CodeValue == "121080"  # Best illustration


def test_stand_in_study_matches_the_sts_psoas_captions():
    """The psoas case names STIR coronal, T1 axial post-contrast and T2/STIR sagittal figures."""
    if "sts_psoas" not in CASE_NAMES:
        pytest.skip(f"sts_psoas not found in {CASES}")
    report = case_report("sts_psoas")
    study = ordered(stand_in_study())
    described = {str(ds.SeriesInstanceUID): str(ds.get("SeriesDescription", "")) for ds in study}
    found = finding_images(report, study)
    assert found, "no figure of sts_psoas matched the stand-in study"
    shown = {described[str(ds.SeriesInstanceUID)] for images in found.values() for ds in images}
    assert "COR STIR" in shown and "AX CT" not in shown and "COR CT" not in shown
    assert "" not in shown  # MR_small itself (axial SE, T2-weighted by TR/TE) fits no caption


def test_mr_small_alone_is_evidence_even_when_no_figure_matches(case: CaseReport):
    ds = read(sr_bytes(case, images=[mr_small()]))
    assert evidence(ds) == {str(mr_small().SOPInstanceUID)}
    assert ds.PatientID == "4MR1"


def test_with_images_same_bytes_whatever_the_order_and_other_images_other_uids(case: CaseReport):
    study = stand_in_study()
    shuffled = study[:]
    random.Random(6).shuffle(shuffled)
    one = sr_bytes(case, images=study)
    assert sr_bytes(case, images=shuffled) == one
    assert sr_bytes(case, images=study + [copy.deepcopy(study[0])]) == one  # a duplicate counts once
    fewer = read(sr_bytes(case, images=study[:-1]))
    assert fewer.SOPInstanceUID != read(one).SOPInstanceUID
    assert fewer.SOPInstanceUID != read(sr_bytes(case)).SOPInstanceUID


def test_images_of_two_studies_latest_is_current_the_other_pertinent():
    report = case_report(CASE_NAMES[0]) if CASE_NAMES else pytest.skip(f"no cases in {CASES}")
    current = stand_in_study(1)
    prior = copy.deepcopy(current[0])
    prior.StudyInstanceUID, prior.StudyDate = f"{prior.StudyInstanceUID}.9", "20030101"
    prior.SeriesInstanceUID, prior.SOPInstanceUID = f"{prior.SeriesInstanceUID}.9", f"{prior.SOPInstanceUID}.9"
    ds = build_sr(report, images=[prior, *current])
    assert ds.StudyInstanceUID == current[0].StudyInstanceUID
    assert evidence(ds, "PertinentOtherEvidenceSequence") == {prior.SOPInstanceUID}
