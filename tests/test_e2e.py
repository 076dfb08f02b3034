"""End to end: the sample case to a FHIR bundle and an SR, read back and checked for content."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom
import pydicom
import pytest
from fhir.resources.R4B.bundle import Bundle

import caseconv
from caseconv.ids import study_instance_uid
from caseconv.pipeline import convert_file

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sts_psoas.txt"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, caseconv.model.CaseReport]:
    out = tmp_path_factory.mktemp("out")
    report, paths, _ = convert_file(SAMPLE, out)
    fhir, sr = paths
    return fhir, sr, report


def _content(items, found=None):
    found = [] if found is None else found
    for item in items:
        found.append(item)
        _content(getattr(item, "ContentSequence", []), found)
    return found


def test_bundle_reads_back_with_the_findings(written) -> None:
    fhir, _, report = written
    bundle = Bundle.model_validate_json(fhir.read_text(encoding="utf-8"))
    resources = [e.resource for e in bundle.entry]
    types = {r.__resource_type__ for r in resources}
    assert {"Patient", "ImagingStudy", "DiagnosticReport", "Observation", "Condition"} <= types
    study = next(r for r in resources if r.__resource_type__ == "ImagingStudy")
    dicom_ids = [i.value for i in study.identifier if i.system == "urn:dicom:uid"]
    assert dicom_ids == [f"urn:oid:{study_instance_uid(report)}"]
    data = json.loads(fhir.read_text(encoding="utf-8"))
    codes = {c["code"] for e in data["entry"] for c in e["resource"].get("code", {}).get("coding", [])}
    assert "4147007" in codes  # the soft tissue mass
    quantities = sorted(e["resource"]["valueQuantity"]["value"] for e in data["entry"]
                        if "valueQuantity" in e["resource"] and e["resource"]["valueQuantity"].get("unit") == "cm")
    assert quantities == [11.5, 12.1]
    conditions = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Condition"]
    statuses = sorted(c["verificationStatus"]["coding"][0]["code"] for c in conditions)
    assert statuses == ["confirmed", "differential", "differential"]
    sarcoma = next(c for c in conditions if c["verificationStatus"]["coding"][0]["code"] == "confirmed")
    assert sarcoma["code"]["coding"][0]["code"] == "424952003"


def test_sr_reads_back_with_the_same_study_and_findings(written) -> None:
    _, sr, report = written
    dataset = pydicom.dcmread(sr)
    assert dataset.StudyInstanceUID == study_instance_uid(report)
    assert dataset.PatientSex == "F" and dataset.PatientAge == "070Y"
    document = highdicom.sr.srread(sr)
    assert isinstance(document, highdicom.sr.Comprehensive3DSR)
    items = _content(dataset.ContentSequence)
    numbers = sorted(float(i.MeasuredValueSequence[0].NumericValue) for i in items if i.ValueType == "NUM")
    assert numbers == [11.5, 12.1]
    sites = {i.ConceptCodeSequence[0].CodeMeaning for i in items
             if i.ValueType == "CODE" and i.ConceptNameCodeSequence[0].CodeValue == "363698007"}
    assert "Kidney" in sites
    groups = [i for i in items if i.ValueType == "CONTAINER" and i.ConceptNameCodeSequence[0].CodeValue == "125007"]
    assert len(groups) == len(report.findings)


def test_same_input_same_bytes(tmp_path: Path, written) -> None:
    fhir, sr, _ = written
    _, paths, _ = convert_file(SAMPLE, tmp_path)
    assert paths[0].read_bytes() == fhir.read_bytes()
    assert paths[1].read_bytes() == sr.read_bytes()


def test_outputs_pass_validate(written) -> None:
    from caseconv.dicom.validate import validate_sr
    from caseconv.fhir.validate import validate_bundle

    fhir, sr, _ = written
    assert validate_bundle(fhir) == []
    assert validate_sr(sr) == []


def test_every_reference_case_converts_and_validates(cases_dir: Path, tmp_path: Path) -> None:
    from caseconv.dicom.validate import validate_sr
    from caseconv.fhir.validate import validate_bundle

    for text in sorted(cases_dir.glob("*.txt")):
        report, (fhir, sr), _ = convert_file(text, tmp_path)
        assert report.findings, text.name
        assert validate_bundle(fhir) == [], text.name
        assert validate_sr(sr) == [], text.name
