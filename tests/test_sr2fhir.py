"""SR -> FHIR Observations: caseconv's own SRs and other tools' SRs in ../shared/sr."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from caseconv import ids
from caseconv.dicom import sr_bytes
from caseconv.dicom.sr2fhir import GUIDE, sr_to_observations
from caseconv.model import CaseReport, Code, Diagnosis, Finding, Measurement, Site, Span

#: Other tools' SRs: the shared folder beside the repository (see its README.md).
SHARED_SR = Path(__file__).resolve().parent.parent / ".." / "shared" / "sr"

TEXT = "A 3 x 2 cm mass in the right kidney. No ascites. Impression: oncocytoma."


def span(text: str) -> Span:
    start = TEXT.index(text)
    return Span(start, start + len(text))


def report() -> CaseReport:
    return CaseReport(
        case="kidney", text=TEXT,
        findings=(
            Finding("mass in the right kidney", span("mass in the right kidney"),
                    code=Code("SCT", "4147007", "Mass"),
                    sites=(Site("kidney", span("kidney"), Code("SCT", "64033007", "Kidney")),),
                    laterality="right",
                    measurements=(Measurement(3, "cm", "3", span("3")),
                                  Measurement(2, "cm", "2 cm", span("2 cm")))),
            Finding("ascites", span("ascites"), presence="absent"),
        ),
        diagnoses=(Diagnosis("oncocytoma", span("oncocytoma")),),
    )


def convert_ours():
    return sr_to_observations(pydicom.dcmread(BytesIO(sr_bytes(report()))))


def test_our_sr_maps_completely_to_guide_profiles():
    result = convert_ours()
    assert result.unmapped == []
    groups = result.by_profile("imaging-measurement-group")
    measurements = result.by_profile("imaging-measurement")
    evaluations = result.by_profile("imaging-qualitative-evaluation")
    assert (len(groups), len(measurements), len(evaluations)) == (2, 2, 3)  # 2 presences + impression
    ids_ = {o["id"] for o in result.observations}
    assert len(ids_) == len(result.observations)
    for group in groups:
        assert {m["reference"].split("/")[1] for m in group["hasMember"]} <= ids_


def test_group_carries_finding_tracking_site_and_laterality():
    result = convert_ours()
    group = result.by_profile("imaging-measurement-group")[0]
    assert group["valueCodeableConcept"]["coding"][0]["code"] == "4147007"
    (focus,) = group["focus"]
    assert focus["display"] == "mass in the right kidney"
    assert focus["identifier"]["value"] == "urn:oid:" + ids.dicom_uid(report(), "finding", "0")
    assert group["bodySite"]["coding"][0]["code"] == "64033007"
    (body,) = result.body_structures
    assert group["bodyStructure"]["reference"] == f"BodyStructure/{body['id']}"
    assert body["includedStructure"][0]["laterality"]["coding"][0]["code"] == "24028007"
    assert group["partOf"][0]["identifier"]["value"] == "urn:oid:" + ids.study_instance_uid(report())
    assert group["subject"]["identifier"]["value"] == ids.patient_id(report())
    assert group["issued"] == "1970-01-01T00:00:00Z"


def test_measurements_have_ucum_quantities_and_axes():
    measurements = convert_ours().by_profile("imaging-measurement")
    found = {m["code"]["coding"][0]["display"]: m["valueQuantity"] for m in measurements}
    assert found == {
        "Long axis": {"value": 3.0, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
        "Short axis": {"value": 2.0, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}}


def test_uncoded_finding_and_diagnosis_stay_text():
    result = convert_ours()
    ascites = result.by_profile("imaging-measurement-group")[1]
    assert ascites["valueCodeableConcept"] == {"text": "ascites"}
    presence = [e for e in result.by_profile("imaging-qualitative-evaluation")
                if e.get("focus", [{}])[0].get("display") == "ascites"]
    assert presence[0]["valueCodeableConcept"]["coding"][0]["code"] == "272519000"
    impression = [e for e in result.by_profile("imaging-qualitative-evaluation") if "focus" not in e]
    assert impression[0]["valueCodeableConcept"] == {"text": "oncocytoma"}
    assert impression[0]["code"]["coding"][0]["code"] == "121073"


def test_conversion_is_deterministic():
    assert convert_ours().observations == convert_ours().observations


# --- other tools' SRs ------------------------------------------------------------------------

def shared_files() -> list[Path]:
    if not SHARED_SR.is_dir():
        pytest.skip(f"other tools' SRs not found: {SHARED_SR} (the shared folder ../shared/sr)")
    files = sorted(SHARED_SR.glob("*.dcm"))
    if not files:
        pytest.skip(f"no .dcm files in {SHARED_SR}")
    return files


def name(item) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return code.CodingSchemeDesignator, code.CodeValue


def count_tree(ds) -> tuple[int, int, int]:
    """Groups, valued NUMs and CODE/TEXT evaluations as the content tree has them.

    Structural items of a group (tracking ids, finding, category, site, method) are not
    evaluations; report-level "Qualitative Evaluations" items are.
    """
    structural = {("DCM", "112039"), ("DCM", "112040"), ("DCM", "121071"), ("SCT", "276214006"),
                  ("SCT", "363698007"), ("SCT", "370129005"), ("DCM", "125007")}
    groups = numbers = evaluations = 0
    for item in ds.get("ContentSequence", []):
        if name(item) == ("DCM", "126010"):
            for group in item.get("ContentSequence", []):
                if name(group) != ("DCM", "125007"):
                    continue
                groups += 1
                for child in group.get("ContentSequence", []):
                    if child.ValueType == "NUM" and child.get("MeasuredValueSequence"):
                        numbers += 1
                    elif child.ValueType in ("CODE", "TEXT") and name(child) not in structural:
                        evaluations += 1
        elif name(item) == ("UMLS", "C0034375"):
            evaluations += len(item.get("ContentSequence", []))
    return groups, numbers, evaluations


def is_tid1500(ds) -> bool:
    templates = [t.get("TemplateIdentifier") for t in ds.get("ContentTemplateSequence", [])]
    return "1500" in templates or name(ds) == ("DCM", "126000")


def test_other_tools_tid1500_counts_match_the_content_tree():
    checked = 0
    for path in shared_files():
        ds = pydicom.dcmread(path)
        if not is_tid1500(ds):
            continue
        result = sr_to_observations(ds)
        expected = count_tree(ds)
        got = (len(result.by_profile("imaging-measurement-group")),
               len(result.by_profile("imaging-measurement")),
               len(result.by_profile("imaging-qualitative-evaluation")))
        assert got == expected, path.name
        assert expected[0] >= 1, path.name
        for observation in result.observations:
            assert observation["meta"]["profile"][0].startswith(GUIDE)
            assert observation["partOf"][0]["identifier"]["value"] == f"urn:oid:{ds.StudyInstanceUID}"
        checked += 1
    assert checked >= 4  # highdicom x2, dcmjs, dcmqi


def test_other_tools_never_crash_and_report_what_they_skip():
    for path in shared_files():
        result = sr_to_observations(path)
        for line in result.unmapped:
            assert line[0].isdigit(), line  # starts with the content-tree position
        if not is_tid1500(pydicom.dcmread(path)):
            assert result.observations == []
            assert len(result.unmapped) == 1 and "not a TID 1500" in result.unmapped[0]
        elif path.name.startswith(("dcmqi", "highdicom")):
            assert any("not mapped" in line for line in result.unmapped), path.name


def test_dcmqi_measurements_keep_their_ucum_units():
    path = SHARED_SR / "dcmqi_sr_example.dcm"
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared folder ../shared/sr)")
    measurements = sr_to_observations(path).by_profile("imaging-measurement")
    volume = [m for m in measurements if m["code"]["coding"][0]["display"] == "Volume"]
    assert volume and volume[0]["valueQuantity"]["code"] == "ml"
    assert volume[0]["valueQuantity"]["value"] == pytest.approx(33.5824)
