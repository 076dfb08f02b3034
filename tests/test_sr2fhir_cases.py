"""Round trip on the real cases: SR -> `sr_to_observations` agrees with the bundle written directly.

For every case in ../shared/cases, each finding is reduced to (finding code or text, site
codes or texts, laterality, sorted values with UCUM units, presence) twice: from the R5
bundle `caseconv.fhir.build_bundle` writes, and from the Observations `sr_to_observations`
makes of our TID 1500 SR (without images and with the stand-in study). The two sets must
be equal; so must the report-level diagnoses, and nothing of our SR may go unmapped but
its image references.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_sr_cases import CASE_NAMES, CASES, case_report, stand_in_study

from caseconv.dicom import build_sr
from caseconv.dicom.concepts import C
from caseconv.dicom.sr2fhir import Conversion, sr_to_observations
from caseconv.fhir import build_bundle
from caseconv.model import CaseReport

Key = tuple[Any, ...]
LATERALITY = "272741003"
PRESENCE = "121052"
#: CID 240 codes of the SR's presence values, by code value (FHIR direct must use the same).
PRESENCE_CODES = {C[name].value: name for name in ("present", "absent", "uncertain")}


@pytest.fixture(params=CASE_NAMES or ["(none)"])
def case(request: pytest.FixtureRequest) -> CaseReport:
    if not CASE_NAMES:
        pytest.skip(f"reference cases not found: {CASES} (the shared folder beside the repository)")
    return case_report(request.param)


def concept_key(concept: dict[str, Any]) -> str:
    """The code of a CodeableConcept, else its text."""
    coding = concept.get("coding")
    return f"{coding[0].get('system', '')}|{coding[0]['code']}" if coding else concept.get("text", "")


def quantity_key(quantity: dict[str, Any]) -> tuple[float, str]:
    return round(float(quantity["value"]), 6), quantity.get("code") or quantity["unit"]


def structures(resource: dict[str, Any], body: dict[str, dict[str, Any]]) -> tuple[frozenset[str], str | None]:
    """Site keys and laterality of an Observation: its BodyStructure (`body` by reference), else its bodySite."""
    reference = (resource.get("bodyStructure") or {}).get("reference", "")
    found = body.get(reference) if reference else None
    if found is None:
        site = resource.get("bodySite")
        return frozenset([concept_key(site)] if site else []), None
    included = found["includedStructure"]
    lateralities = {concept_key(s["laterality"]) for s in included if "laterality" in s}
    assert len(lateralities) <= 1, found
    sites = frozenset(concept_key(s["structure"]) for s in included)
    return sites, (lateralities.pop() if lateralities else None)


def direct_findings(report: CaseReport) -> set[Key]:
    """The finding keys of the R5 bundle caseconv writes from the report."""
    bundle = build_bundle(report, version="R5")
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    body = {url: r for url, r in by_url.items() if r["resourceType"] == "BodyStructure"}
    keys: set[Key] = set()
    for resource in by_url.values():
        if resource["resourceType"] != "Observation" or not any(
                c.get("code") == "125007" for cat in resource.get("category", []) for c in cat["coding"]):
            continue
        sites, laterality = structures(resource, body)
        if "bodySite" not in resource:  # R5 names the finding itself as the structure of a side
            sites = frozenset()
        members = [by_url[m["reference"]] for m in resource.get("hasMember", [])]
        values = sorted(quantity_key(m["valueQuantity"]) for m in members if "valueQuantity" in m)
        presence = PRESENCE_CODES[resource["valueCodeableConcept"]["coding"][0]["code"]]
        keys.add((concept_key(resource["code"]), sites, laterality, tuple(values), presence))
    return keys


def sr_findings(conversion: Conversion) -> set[Key]:
    """The finding keys of the Observations made from the SR."""
    body = {f"BodyStructure/{b['id']}": b for b in conversion.body_structures}
    by_id = {o["id"]: o for o in conversion.observations}
    keys: set[Key] = set()
    for group in conversion.by_profile("imaging-measurement-group"):
        sites, laterality = structures(group, body)
        members = [by_id[m["reference"].split("/")[1]] for m in group.get("hasMember", [])]
        values = sorted(quantity_key(m["valueQuantity"]) for m in members if "valueQuantity" in m)
        presence = None
        for member in members:
            code = member["code"]["coding"][0]["code"]
            if code == LATERALITY:  # a side without a site modifies the group
                laterality = concept_key(member["valueCodeableConcept"])
            elif code == PRESENCE:
                presence = PRESENCE_CODES[member["valueCodeableConcept"]["coding"][0]["code"]]
        keys.add((concept_key(group["valueCodeableConcept"]), sites, laterality, tuple(values), presence))
    return keys


@pytest.mark.parametrize("with_images", [False, True], ids=["no-images", "stand-in-study"])
def test_sr_observations_agree_with_the_direct_bundle(case: CaseReport, with_images: bool):
    images = stand_in_study() if with_images else None
    conversion = sr_to_observations(build_sr(case, images=images))
    direct = direct_findings(case)
    assert len(direct) == len(case.findings)  # no two findings reduce to one key
    assert sr_findings(conversion) == direct
    for line in conversion.unmapped:
        assert "Source of Measurement" in line, line  # only the image references


def test_diagnoses_round_trip(case: CaseReport):
    """The impression and differentials, coded or as text, are the report's diagnoses."""
    conversion = sr_to_observations(build_sr(case))
    members = {m["reference"].split("/")[1] for o in conversion.observations for m in o.get("hasMember", [])}
    report_level = [o for o in conversion.by_profile("imaging-qualitative-evaluation") if o["id"] not in members]
    got = sorted((o["code"]["coding"][0]["code"] == "111023",  # Differential Diagnosis
                  o["valueCodeableConcept"]["coding"][0]["code"] if "coding" in o["valueCodeableConcept"]
                  else o["valueCodeableConcept"]["text"]) for o in report_level)
    assert got == sorted((d.status == "differential", d.code.value if d.code else d.text)
                         for d in case.diagnoses)
