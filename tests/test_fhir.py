"""The FHIR writer: hand-made CaseReport -> Bundle; codes, values, units, links, determinism."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from fhir_helpers.cases import MRI_LUMBAR, TEXT, minimal_report, sample_report

import caseconv
from caseconv import ids
from caseconv.fhir import build_bundle, bundle_json
from caseconv.fhir.validate import validate_bundle
from caseconv.model import Code, Procedure

SCT = "http://snomed.info/sct"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DERIVATION = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
LATERALITY_R4 = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
ISSUED = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def codes_of(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


class Bundle:
    """Lookup helpers over a bundle dict."""

    def __init__(self, bundle: dict):
        self.bundle = bundle
        self.by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    def all(self, kind: str) -> list[dict]:
        return [e["resource"] for e in self.bundle["entry"] if e["resource"]["resourceType"] == kind]

    def one(self, kind: str) -> dict:
        (found,) = self.all(kind)
        return found

    def resolve(self, reference: dict) -> dict:
        return self.by_url[reference["reference"]]

    def finding(self, text: str) -> dict:
        (found,) = [o for o in self.all("Observation") if o["code"].get("text") == text]
        return found


@pytest.fixture(scope="module")
def r4() -> Bundle:
    return Bundle(build_bundle(sample_report()))


def derivation_spans(element: dict) -> list[tuple[int, int]]:
    spans = []
    for extension in element.get("extension", []):
        if extension["url"] == DERIVATION:
            parts = {p["url"]: p for p in extension["extension"]}
            if "offset" in parts:
                start = parts["offset"]["valueInteger"]
                spans.append((start, start + parts["length"]["valueInteger"]))
    return spans


def test_same_report_gives_same_bytes_and_no_clock():
    first = bundle_json(sample_report())
    assert first == bundle_json(sample_report())
    assert first.endswith("}\n")
    assert '"issued"' not in first and '"timestamp"' not in first and '"date"' not in first


def test_issued_is_used_everywhere_and_must_carry_a_zone():
    bundle = build_bundle(sample_report(), issued=ISSUED)
    assert bundle["timestamp"].startswith("2026-11-24T09:30:00")
    report = Bundle(bundle).one("DiagnosticReport")
    assert report["issued"].startswith("2026-11-24T09:30:00")
    with pytest.raises(ValueError, match="timezone"):
        build_bundle(sample_report(), issued=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="version"):
        build_bundle(sample_report(), version="STU3")
    with pytest.raises(ValueError, match="bundle_type"):
        build_bundle(sample_report(), bundle_type="batch")
    other = build_bundle(sample_report(), issued=ISSUED.astimezone(timezone(timedelta(hours=2))))
    assert other["timestamp"].endswith("+02:00")


def test_ids_are_content_uuids_and_differ_between_texts(r4):
    report = sample_report()
    for entry in r4.bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        identifier = entry["resource"]["identifier"][0]
        assert identifier["system"] == "urn:ietf:rfc:3986" and identifier["value"].startswith("urn:uuid:")
        # never the fullUrl: a server rewrites fullUrls in a transaction, identifiers included
        assert identifier["value"] != entry["fullUrl"]
    patient = r4.one("Patient")
    assert patient["id"] == str(ids.content_uuid(report, "Patient"))
    own = ids.content_uuid(report, "identifier", "Patient")
    assert patient["identifier"][0]["value"] == f"urn:uuid:{own}"
    changed = report.replace(text=report.text + " ")
    other = {e["fullUrl"] for e in build_bundle(changed)["entry"]}
    assert not other & set(r4.by_url)


def test_round_trip_through_fhir_resources():
    from fhir.resources.R4B.bundle import Bundle as R4Bundle

    text = bundle_json(sample_report(), issued=ISSUED)
    model = R4Bundle.model_validate_json(text)
    assert json.loads(model.model_dump_json()) == json.loads(text)


def test_references_resolve(r4):
    assert validate_bundle(r4.bundle) == []


def test_patient_and_age(r4):
    patient = r4.one("Patient")
    assert patient["gender"] == "female"
    assert "birthDate" not in patient
    assert {"value": ids.patient_id(sample_report())} in patient["identifier"]
    (start, end), = derivation_spans(patient["_gender"])
    assert TEXT[start:end] == "woman"
    age = r4.finding("Age")
    assert (LOINC, "30525-0") in codes_of(age["code"])
    assert age["valueQuantity"] == {"value": 70, "unit": "year", "system": UCUM, "code": "a"}
    assert r4.resolve(age["subject"]) is patient


def test_imaging_study(r4):
    report = sample_report()
    study = r4.one("ImagingStudy")
    assert {"system": "urn:dicom:uid", "value": f"urn:oid:{ids.study_instance_uid(report)}"} in study[
        "identifier"]
    assert study["status"] == "available"
    assert study["modality"] == [{"system": DCM, "code": "MR", "display": "Magnetic Resonance"}]
    assert codes_of(study["procedureCode"][0]) == {(LOINC, MRI_LUMBAR.value)}
    (series,) = study["series"]
    assert series["uid"] == ids.dicom_uid(report, "series", "Fig 1")
    assert series["modality"]["code"] == "MR"
    assert "T1W" in series["description"] and "coronal" in series["description"]
    assert study["numberOfSeries"] == 1


def test_finding_is_a_measurement_group_with_sites_laterality_and_members(r4):
    group = r4.finding("psoas mass")
    assert "coding" not in group["code"]  # the coder found no code: text only, none invented
    assert (DCM, "125007") in codes_of(group["category"][0])
    assert codes_of(group["valueCodeableConcept"]) == {(SCT, "52101004")}
    assert codes_of(group["bodySite"]) == {(SCT, "71616004")}
    laterality = [e for e in group["bodySite"]["extension"] if e["url"] == LATERALITY_R4]
    assert codes_of(laterality[0]["valueCodeableConcept"]) == {(SCT, "7771000")}
    assert [TEXT[s:e] for s, e in derivation_spans(group["bodySite"])] == ["psoas"]
    components = [c["valueCodeableConcept"]["text"] for c in group["component"]]
    assert components == ["neural foramen", "L1", "L2"]
    assert all(codes_of(c["code"]) == {(SCT, "363698007")} for c in group["component"])
    assert [TEXT[s:e] for s, e in derivation_spans(group)] == ["psoas mass"]
    assert r4.resolve(group["partOf"][0])["resourceType"] == "ImagingStudy"
    assert group["partOf"][0]["identifier"]["value"] == f"urn:oid:{ids.study_instance_uid(sample_report())}"
    device = r4.resolve(group["device"])
    assert device["version"] == [{"value": caseconv.__version__}]
    assert device["deviceName"][0]["name"] == "caseconv"
    assert "Media" in {r4.resolve(r)["resourceType"] for r in group["derivedFrom"]}

    members = [r4.resolve(r) for r in group["hasMember"]]
    quantities = [m["valueQuantity"] for m in members if "valueQuantity" in m]
    assert quantities == [{"value": 12.1, "unit": "cm", "system": UCUM, "code": "cm"},
                          {"value": 11.5, "unit": "cm", "system": UCUM, "code": "cm"}]
    assert [codes_of(m["code"]) for m in members[:2]] == [{(SCT, "103339001")}, {(SCT, "103340004")}]
    assert [TEXT[s:e] for m in members[:2] for s, e in derivation_spans(m)] == ["12.1", "11.5"]
    assert members[2]["valueCodeableConcept"] == {"text": "heterogeneous"}
    for member in members:
        assert r4.resolve(member["partOf"][0])["resourceType"] == "ImagingStudy"


def test_absent_and_uncertain_findings(r4):
    absent = r4.finding("lymphadenopathy")
    assert codes_of(absent["valueCodeableConcept"]) == {(SCT, "272519000")}
    uncertain = r4.finding("Bone involvement")
    assert codes_of(uncertain["valueCodeableConcept"]) == {(SCT, "373068000")}
    assert "uncertain" in uncertain["note"][0]["text"]


def test_conditions_carry_verification_status(r4):
    conditions = {c["code"]["text"]: c for c in r4.all("Condition")}
    status = {text: codes_of(c["verificationStatus"]) for text, c in conditions.items()}
    assert status == {"soft tissue sarcoma": {(VER_STATUS, "confirmed")},
                      "psoas abscess": {(VER_STATUS, "differential")},
                      "metastases": {(VER_STATUS, "differential")}}
    for condition in conditions.values():
        assert "coding" not in condition["code"]
        assert r4.resolve(condition["subject"])["resourceType"] == "Patient"
        (start, end), = derivation_spans(condition)
        assert TEXT[start:end] == condition["code"]["text"]


def test_diagnostic_report(r4):
    report = r4.one("DiagnosticReport")
    assert report["status"] == "final"
    assert codes_of(report["category"][0]) == {("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD")}
    assert codes_of(report["code"]) == {(LOINC, MRI_LUMBAR.value)}
    assert [r4.resolve(r)["code"]["text"] for r in report["result"]] == [
        "psoas mass", "lymphadenopathy", "Bone involvement"]
    assert r4.resolve(report["imagingStudy"][0])["resourceType"] == "ImagingStudy"
    assert [c["text"] for c in report["conclusionCode"]] == ["soft tissue sarcoma"]
    assert "psoas abscess" in report["conclusion"] and "metastases" in report["conclusion"]
    assert base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8") == TEXT
    media = r4.resolve(report["media"][0]["link"])
    assert media["resourceType"] == "Media" and media["note"][0]["text"].startswith("Coronal T1W")
    assert [TEXT[s:e] for s, e in derivation_spans(media)] == [TEXT.splitlines()[0]]
    div = report["text"]["div"]
    assert report["text"]["status"] == "generated" and div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "<li>lymphadenopathy (absent)</li>" in div and "soft tissue sarcoma" in div
    document = r4.one("DocumentReference")
    assert base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8") == TEXT


def test_report_code_falls_back_to_loinc_diagnostic_imaging_study():
    report = sample_report()
    uncoded = report.replace(procedures=(Procedure("MRI", report.procedures[0].span, "MR"),))
    bundle = Bundle(build_bundle(uncoded))
    assert codes_of(bundle.one("DiagnosticReport")["code"]) == {(LOINC, "18748-4")}


def test_every_coding_comes_from_the_report_or_a_verified_table(r4):
    from caseconv.fhir import terms

    allowed = set()
    report = sample_report()
    for item in (*report.procedures, *report.findings, *report.diagnoses,
                 *(s for f in report.findings for s in f.sites)):
        if item.code:
            allowed.add((item.code.system, item.code.value))
    table = terms.table()
    for section in ("codes", "measurement_kinds"):
        for name, entry in table[section].items():
            if not name.startswith("_"):
                allowed.add((Code(entry["scheme"], entry["value"], entry["display"]).system, entry["value"]))
    for name, entry in table["fhir"].items():
        if name.startswith("_"):
            continue
        for code in entry.get("codes", [entry.get("code")]):
            allowed.add((entry["system"], code))
    allowed |= {(DCM, "MR"), (UCUM, "cm"), (UCUM, "a")}
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "system" in node and "code" in node:
                found.add((node["system"], node["code"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(r4.bundle)
    assert found <= allowed, found - allowed


def test_transaction_entries_are_conditional_creates():
    bundle = build_bundle(sample_report(), bundle_type="transaction")
    assert bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        request = entry["request"]
        assert request["method"] == "POST" and request["url"] == resource["resourceType"]
        if resource["resourceType"] == "ImagingStudy":
            assert request["ifNoneExist"].startswith("identifier=urn:dicom:uid|urn:oid:2.25.")
        else:
            own = resource["identifier"][0]["value"]
            assert request["ifNoneExist"] == f"identifier=urn:ietf:rfc:3986|{own}"
    assert validate_bundle(bundle) == []


def test_r5_bundle_uses_body_structure_and_figure_documents():
    bundle = Bundle(build_bundle(sample_report(), version="R5", issued=ISSUED))
    assert bundle.all("Media") == []
    source, figure = bundle.all("DocumentReference")
    assert base64.b64decode(source["content"][0]["attachment"]["data"]).decode("utf-8") == TEXT
    assert figure["description"].startswith("Coronal T1W")
    assert figure["modality"][0]["coding"][0]["code"] == "MR"
    media = bundle.one("DiagnosticReport")["media"]
    assert [bundle.resolve(m["link"]) for m in media] == [figure]
    group = bundle.finding("psoas mass")
    structure = bundle.resolve(group["bodyStructure"])
    assert [s["structure"]["text"] for s in structure["includedStructure"]] == ["psoas", "neural foramen"]
    assert codes_of(structure["includedStructure"][0]["laterality"]) == {(SCT, "7771000")}
    assert bundle.one("DiagnosticReport")["study"][0]["reference"] in bundle.by_url
    assert bundle.one("Device")["name"][0]["value"] == "caseconv"
    assert validate_bundle(bundle.bundle, version="R5") == []


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
def test_minimal_report_gives_a_valid_bundle(version, bundle_type):
    bundle = build_bundle(minimal_report(), version=version, bundle_type=bundle_type)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "Device", "DocumentReference", "ImagingStudy", "DiagnosticReport"]
    assert validate_bundle(bundle, version=version) == []


def test_figures_sharing_a_label_get_their_own_series():
    report = sample_report()
    twice = report.replace(figures=report.figures * 2)
    bundle = build_bundle(twice)
    (study,) = Bundle(bundle).all("ImagingStudy")
    uids = [s["uid"] for s in study["series"]]
    assert uids[0] == ids.dicom_uid(report, "series", "Fig 1") and uids[1] == ids.dicom_uid(
        report, "series", "Fig 1", "1")
    assert validate_bundle(bundle) == []
    study["series"][1]["uid"] = uids[0]
    i = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "ImagingStudy")
    assert validate_bundle(bundle) == [
        f"entry[{i}].resource.series[1].uid: duplicate series UID {uids[0]} [caseconv]"]


def test_laterality_without_a_site_is_a_component_and_procedures_are_not_repeated():
    from dataclasses import replace

    report = sample_report()
    sided = replace(report.findings[1], presence="present", laterality="right")
    procedure = report.procedures[0]
    twice = report.replace(findings=(report.findings[0], sided, report.findings[2]),
                           procedures=(procedure, replace(procedure, modality="CT")))
    for version in ("R4", "R5"):
        bundle = Bundle(build_bundle(twice, version=version))
        group = bundle.finding("lymphadenopathy")
        (component,) = group["component"]
        assert codes_of(component["code"]) == {(SCT, "272741003")}
        assert codes_of(component["valueCodeableConcept"]) == {(SCT, "24028007")}
        assert "bodySite" not in group and "bodyStructure" not in group
        study = bundle.one("ImagingStudy")
        assert study["description"] == procedure.text
        assert len(study["procedure" if version == "R5" else "procedureCode"]) == 1
        assert validate_bundle(bundle.bundle, version=version) == []


def odd_characters_report():
    """The sample with a control character, NBSP, line separator and BOM in a finding's text."""
    from dataclasses import replace

    report = sample_report()
    text = report.text.replace("No lymphadenopathy", "No\u00a0lymph\x1fden\u2028pat\ufeffy")
    assert len(text) == len(report.text)
    finding = replace(report.findings[1], text="lymph\x1fden\u2028pat\ufeffy")
    return report.replace(text=text, findings=(report.findings[0], finding, report.findings[2]))


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_control_characters_and_odd_spaces_become_spaces(version):
    report = odd_characters_report()
    bundle = Bundle(build_bundle(report, version=version))
    group = bundle.finding("lymph den pat y")
    (start, end), = derivation_spans(group)
    assert report.text[start:end] == report.findings[1].text  # offsets still index the source text
    document = bundle.all("DocumentReference")[0]
    assert base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8") == report.text
    assert "\x1f" not in bundle_json(report, version=version)
    assert validate_bundle(bundle.bundle, version=version) == []
