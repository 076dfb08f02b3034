"""The mCODE primary cancer Condition: which diagnoses, which bodySite; the cancer table
checked against pydicom; the guide rules of validate_bundle; default measurement kinds."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
from fhir_helpers.cases import TEXT, sample_report, span

import caseconv
from caseconv.fhir import build_bundle, cancer, terms
from caseconv.fhir.validate import validate_bundle
from caseconv.model import CaseReport, Code, Diagnosis, Finding, Measurement, Site

SCT = "http://snomed.info/sct"
PROFILE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
LATERALITY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
STS = Code("SCT", "424952003", "Sarcoma of soft tissue")
MASS = Code("SCT", "4147007", "Mass")
MUSCLE = Code("SCT", "71616004", "Muscle")
BONE = Code("SCT", "272673000", "Bone")
CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def conditions(bundle: dict) -> dict[str, dict]:
    return {e["resource"]["code"]["text"]: e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Condition"}


def codes_of(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def laterality(site: dict) -> set[tuple[str, str]]:
    (extension,) = [e for e in site.get("extension", []) if e["url"] == LATERALITY]
    return codes_of(extension["valueCodeableConcept"])


def with_cancer(status: str = "confirmed", **finding_changes) -> CaseReport:
    """The sample report with a coded sarcoma diagnosis and its mass coded as a Mass."""
    report = sample_report()
    mass = replace(report.findings[0], **{"code": MASS, **finding_changes})
    diagnoses = (Diagnosis("soft tissue sarcoma", span("soft tissue sarcoma"), STS, status),
                 *report.diagnoses[1:])
    return report.replace(findings=(mass, *report.findings[1:]), diagnoses=diagnoses)


def test_confirmed_cancer_is_shaped_after_mcode():
    condition = conditions(build_bundle(with_cancer()))["soft tissue sarcoma"]
    assert condition["meta"]["profile"] == [PROFILE]
    assert codes_of(condition["category"][0]) == {
        ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")}
    assert codes_of(condition["code"]) == {(SCT, "424952003")}
    # the mass's coded site (psoas -> Muscle), with the mass's laterality; the uncoded
    # "neural foramen" stays on the finding's Observation only
    (site,) = condition["bodySite"]
    assert codes_of(site) == {(SCT, "71616004")} and site["text"] == "psoas"
    assert laterality(site) == {(SCT, "7771000")}
    assert validate_bundle(build_bundle(with_cancer(), bundle_type="transaction")) == []


def test_provisional_is_shaped_differential_and_uncoded_are_not():
    assert "meta" in conditions(build_bundle(with_cancer("provisional")))["soft tissue sarcoma"]
    plain = conditions(build_bundle(with_cancer("differential")))["soft tissue sarcoma"]
    assert "meta" not in plain and "category" not in plain and "bodySite" not in plain
    # the sample's own sarcoma has no code: never called a cancer from its words
    assert "meta" not in conditions(build_bundle(sample_report()))["soft tissue sarcoma"]


def test_body_site_only_from_present_lesions():
    absent = conditions(build_bundle(with_cancer(presence="absent")))["soft tissue sarcoma"]
    assert "bodySite" not in absent and absent["meta"]["profile"] == [PROFILE]
    not_a_lesion = with_cancer(code=Code("SCT", "79654002", "Edema"))
    assert "bodySite" not in conditions(build_bundle(not_a_lesion))["soft tissue sarcoma"]


def test_sites_of_two_lesions_keep_their_own_laterality_once_each():
    report = with_cancer()
    right = Finding("mass", span("Bone involvement"), MASS,
                    sites=(Site("bone", span("Bone"), BONE), Site("psoas", span("psoas"), MUSCLE)),
                    laterality="right")
    again = Finding("mass", span("psoas mass"), MASS, sites=(Site("psoas", span("psoas"), MUSCLE),),
                    laterality="left")
    report = report.replace(findings=(*report.findings, right, again))
    sites = conditions(build_bundle(report))["soft tissue sarcoma"]["bodySite"]
    assert [(s["text"], laterality(s)) for s in sites] == [
        ("psoas", {(SCT, "7771000")}), ("bone", {(SCT, "24028007")}), ("psoas", {(SCT, "24028007")})]


def test_r5_has_category_and_sites_but_claims_no_r4_profile():
    condition = conditions(build_bundle(with_cancer(), version="R5"))["soft tissue sarcoma"]
    assert "meta" not in condition
    assert condition["category"] and [s["text"] for s in condition["bodySite"]] == ["psoas"]
    assert validate_bundle(build_bundle(with_cancer(), version="R5"), version="R5") == []


@pytest.mark.skipif(not (CASES / "sts_psoas.txt").is_file(), reason=f"no reference cases in {CASES}")
def test_real_sarcoma_case():
    report = caseconv.extract((CASES / "sts_psoas.txt").read_text(encoding="utf-8"), "sts_psoas")
    found = conditions(build_bundle(report))
    sarcoma = found["soft tissue sarcoma"]
    assert sarcoma["meta"]["profile"] == [PROFILE]
    lesions = cancer.explained_findings(report.findings)
    assert lesions and all(f.presence == "present" for f in lesions)
    expected = [(s.code.value, f.laterality and terms.coding(f.laterality)["code"])
                for f in lesions for s in f.sites if s.code]
    written = [(s["coding"][0]["code"], next((e["valueCodeableConcept"]["coding"][0]["code"]
                                              for e in s.get("extension", []) if e["url"] == LATERALITY), None))
               for s in sarcoma["bodySite"]]
    assert written == list(dict.fromkeys(expected))
    # metastases are a coded differential: a possibility, not shaped as the patient's cancer
    assert "meta" not in found["metastases"]


def test_cancer_table_against_pydicom():
    from pydicom.sr._cid_dict import cid_concepts

    section = cancer.table()["primary_cancer"]
    members = set().union(*(cancer.cid_members(e["cid"]) for e in section["cids"]))
    for excluded in section["exclude"]:
        assert (excluded["scheme"], excluded["value"]) in members, f"stale exclusion {excluded}"
    assert ("SCT", "424952003") in cancer.primary_cancer_codes()  # sarcoma of soft tissue, CID 639
    assert ("SCT", "128462008") not in cancer.primary_cancer_codes()  # metastasis
    assert ("DCM", "111301") not in cancer.primary_cancer_codes()  # axillary nodal metastases
    lesions = cancer.table()["lesion_findings"]
    in_cid = cancer.cid_members(lesions["cid"])
    assert 7159 in cid_concepts
    for entry in lesions["codes"]:
        assert (entry["scheme"], entry["value"]) in in_cid
    assert ("SCT", "14799000") not in cancer.lesion_codes()  # secondary neoplasm


def test_laterality_codes_are_the_mcode_value_set():
    allowed = set(cancer.table()["profile"]["laterality_values"])
    assert {terms.coding(side)["code"] for side in ("left", "right", "bilateral")} <= allowed


def _cancer_bundle() -> tuple[dict, int]:
    bundle = build_bundle(with_cancer())
    index = next(i for i, e in enumerate(bundle["entry"]) if "meta" in e["resource"])
    return bundle, index


def test_guide_rules_reject_broken_cancer_conditions():
    bundle, i = _cancer_bundle()
    broken = copy.deepcopy(bundle)
    del broken["entry"][i]["resource"]["category"]
    assert validate_bundle(broken) == [f"entry[{i}].resource.category: a primary cancer Condition needs a US "
                                       "Core category (problem-list-item, encounter-diagnosis or health-concern) "
                                       "[mcode]"]
    broken = copy.deepcopy(bundle)
    del broken["entry"][i]["resource"]["code"]["coding"]
    assert validate_bundle(broken) == [f"entry[{i}].resource.code: a primary cancer Condition needs a coded code "
                                       "[mcode]"]
    broken = copy.deepcopy(bundle)
    qualifier = next(e for e in broken["entry"][i]["resource"]["bodySite"][0]["extension"]
                     if e["url"] == LATERALITY)
    qualifier["valueCodeableConcept"]["coding"][0]["code"] = "66459002"
    assert validate_bundle(broken) == [f"entry[{i}].resource.bodySite[0].extension: laterality qualifier not in "
                                       "mCODE LateralityQualifierVS [mcode]"]


def test_default_kinds_agree_with_the_sr_writer():
    from caseconv.dicom.concepts import DEFAULT_KINDS

    table = {int(k): tuple(v) for k, v in terms.table()["default_kinds"].items() if not k.startswith("_")}
    assert table == DEFAULT_KINDS


@pytest.mark.parametrize(("numbers", "expected"), [
    ([(3, "cm", None)], ["diameter"]),
    ([(5, "mm", None), (12, "mm", None)], ["short axis", "long axis"]),
    ([(5, "mm", "depth"), (12, "mm", None)], [None, "diameter"]),
    ([(1, "cm", None), (2, "cm", None), (3, "cm", None)], ["length", "width", "depth"]),
    ([(20, "cc", None)], [None]),
    ([(1, "cm", None)] * 4, [None] * 4),
])
def test_default_kinds(numbers, expected):
    measurements = tuple(Measurement(v, u, str(v), span("12.1"), k) for v, u, k in numbers)
    assert terms.default_kinds(measurements) == expected


def test_unkinded_numbers_are_coded_like_the_sr_and_others_keep_text():
    report = sample_report()
    mass = report.findings[0]
    plain = tuple(replace(m, kind=None) for m in mass.measurements)
    volume = Measurement(20, "cc", "20", span("12.1"))
    for numbers, names in (((plain[1], plain[0]), ["Short axis", "Long axis"]),
                           ((volume,), [None])):
        changed = report.replace(findings=(replace(mass, measurements=numbers), *report.findings[1:]))
        bundle = build_bundle(changed)
        observations = [e["resource"] for e in bundle["entry"] if "valueQuantity" in e["resource"]
                        and e["resource"]["code"].get("text") != "Age"]
        displays = [o["code"]["coding"][0]["display"] if "coding" in o["code"] else None for o in observations]
        assert displays == names
        assert validate_bundle(bundle) == []
    assert TEXT  # the sample text is the one spans point into
