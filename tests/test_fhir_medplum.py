"""Medplum's validator and transaction router as a second opinion on our R4 bundles.

Needs node and the packages `scripts/deps/fhir.sh` installs into .deps/node; skips,
saying so, when they are missing.
"""

from __future__ import annotations

import json
import re

import pytest
from fhir_helpers import medplum as mp
from fhir_helpers.cases import minimal_report, sample_report

from caseconv.fhir import bundle_json

pytestmark = mp.NEEDS_MEDPLUM
http = mp.http


def medplum(text: str, tmp_path) -> dict:
    return mp.check(text, tmp_path)


@pytest.mark.parametrize("report", [sample_report(), minimal_report()], ids=["sample", "minimal"])
def test_medplum_finds_no_errors(report, tmp_path):
    result = medplum(bundle_json(report), tmp_path)
    assert result["errors"] == []
    assert result["warnings"] == []


def test_medplum_catches_what_we_break(tmp_path):
    bundle = json.loads(bundle_json(sample_report()))
    quantity = next(e["resource"] for e in bundle["entry"] if "valueQuantity" in e["resource"])
    quantity["valueQuantity"]["value"] = "12.1"
    quantity["foo"] = 1
    errors = medplum(json.dumps(bundle), tmp_path)["errors"]
    assert any("expected number" in e for e in errors)
    assert any('"foo"' in e for e in errors)


def test_transaction_is_accepted_and_idempotent(tmp_path):
    bundle = json.loads(bundle_json(sample_report(), bundle_type="transaction"))
    result = medplum(json.dumps(bundle), tmp_path)["transaction"]
    entries = len(bundle["entry"])
    assert result["first"]["statuses"] == ["201"] * entries
    # conditional creates: the second upload of the same report creates nothing new
    assert result["second"]["statuses"] == ["200"] * entries
    observations = sum(e["resource"]["resourceType"] == "Observation" for e in bundle["entry"])
    assert result["observations"] == observations
    assert len(set(result["subjects"])) == 1 and result["subjects"][0].startswith("Patient/")


@pytest.fixture(scope="module")
def medplum_server():
    """Medplum's FHIR engine behind tests/servers/medplum_server.cjs on 127.0.0.1."""
    with mp.server() as base:
        yield base


def test_transaction_over_http_rewrites_references_and_reads_back(medplum_server):
    bundle = json.loads(bundle_json(sample_report(), bundle_type="transaction"))
    status, answer = http(medplum_server, "/", bundle)
    assert status == 200, answer
    assert [e["response"]["status"] for e in answer["entry"]] == ["201"] * len(bundle["entry"])
    stored = [e["resource"] for e in answer["entry"]]
    references = re.findall(r'"reference": "([^"]*)"', json.dumps(stored))
    assert references and not [r for r in references if r.startswith("urn:uuid:")]

    status, found = http(medplum_server, "/Observation?code=http://snomed.info/sct|103339001")
    assert status == 200
    (long_axis,) = [e["resource"] for e in found["entry"]]
    assert long_axis["valueQuantity"] == {"value": 12.1, "unit": "cm", "system": "http://unitsofmeasure.org",
                                          "code": "cm"}
    assert long_axis["subject"]["reference"].startswith("Patient/")
    assert long_axis["partOf"][0]["reference"].startswith("ImagingStudy/")

    status, groups = http(medplum_server, "/Observation?category=http://dicom.nema.org/resources/"
                                          "ontology/DCM|125007")
    texts = sorted(e["resource"]["code"]["text"] for e in groups["entry"])
    assert texts == ["Bone involvement", "lymphadenopathy", "psoas mass"]
    absent = next(e["resource"] for e in groups["entry"]
                  if e["resource"]["code"]["text"] == "lymphadenopathy")
    assert absent["valueCodeableConcept"]["coding"][0]["code"] == "272519000"
    status, study = http(medplum_server, "/" + long_axis["partOf"][0]["reference"])
    assert status == 200 and study["identifier"][1]["system"] == "urn:dicom:uid"


def test_odd_characters_pass_medplum(tmp_path):
    from test_fhir import odd_characters_report

    result = medplum(bundle_json(odd_characters_report(), bundle_type="transaction"), tmp_path)
    assert result["errors"] == [] and result["warnings"] == []
    assert set(result["transaction"]["first"]["statuses"]) == {"201"}
