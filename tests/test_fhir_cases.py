"""Issue 5 on the real cases: text -> caseconv.extract -> build_bundle, for every case of
shared/cases and both versions: no problem from validate_bundle, no error from Medplum's
validator, the transaction accepted by Medplum's engine and read back, no duplicates on a
second upload, byte-stable output. Skips, naming the folder, when shared/cases is absent.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pytest
from fhir_helpers import medplum as mp

import caseconv
from caseconv.fhir import build_bundle, bundle_json
from caseconv.fhir.validate import validate_bundle
from caseconv.model import CaseReport

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
NAMES = sorted(p.stem for p in CASES.glob("*.txt")) if CASES.is_dir() else []
ISSUED = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)

pytestmark = pytest.mark.skipif(not NAMES, reason=f"no reference cases in {CASES}")
cases = pytest.mark.parametrize("name", NAMES or ["none"])
versions = pytest.mark.parametrize("version", ["R4", "R5"])


@cache
def report(name: str) -> CaseReport:
    """The case parsed and coded once per test session."""
    return caseconv.extract((CASES / f"{name}.txt").read_text(encoding="utf-8"), name)


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@cases
@versions
@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
def test_bundle_has_no_problems(name, version, bundle_type):
    bundle = build_bundle(report(name), version=version, bundle_type=bundle_type)
    assert validate_bundle(bundle, version=version) == []


@cases
@versions
def test_same_text_gives_same_bytes_and_a_clock_only_when_given(name, version):
    first = bundle_json(report(name), version=version)
    again = caseconv.extract((CASES / f"{name}.txt").read_text(encoding="utf-8"), name)
    assert bundle_json(again, version=version) == first
    for element in ('"issued"', '"timestamp"', '"date"', '"recordedDate"'):
        assert element not in first
    dated = build_bundle(report(name), version=version, issued=ISSUED)
    assert dated["timestamp"].startswith("2026-11-24T09:30:00")
    assert all(r.get("issued", "").startswith("2026-11-24") for r in resources(dated, "Observation"))


@cases
@versions
def test_every_finding_measurement_and_diagnosis_is_written(name, version):
    case = report(name)
    bundle = build_bundle(case, version=version)
    groups = [o for o in resources(bundle, "Observation")
              if any(c["code"] == "125007" for cat in o.get("category", []) for c in cat["coding"])]
    assert [g["code"]["text"] for g in groups] == [f.text for f in case.findings]
    quantities = [o["valueQuantity"]["value"] for o in resources(bundle, "Observation")
                  if "valueQuantity" in o and o["code"]["text"] != "Age"]
    assert quantities == [m.value for f in case.findings for m in f.measurements]
    conditions = resources(bundle, "Condition")
    assert [c["code"]["text"] for c in conditions] == [d.text for d in case.diagnoses]
    for condition, diagnosis in zip(conditions, case.diagnoses):
        assert ("coding" in condition["code"]) == (diagnosis.code is not None)
    study = resources(bundle, "ImagingStudy")[0]
    uids = [s["uid"] for s in study.get("series", [])]
    assert len(uids) == len(set(uids)) == len(case.figures)


@cases
def test_source_text_survives_unicode(name):
    case = report(name)
    text = bundle_json(case)
    bundle = json.loads(text)
    (document,) = resources(bundle, "DocumentReference")
    assert base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8") == case.text
    for finding in case.findings:
        assert json.dumps(finding.text, ensure_ascii=False) in text


@pytest.fixture(scope="module")
def medplum_server():
    if not NAMES:
        pytest.skip(f"no reference cases in {CASES}")
    for mark in mp.NEEDS_MEDPLUM:
        if mark.args[0]:
            pytest.skip(mark.kwargs["reason"])
    with mp.server() as base:
        yield base


@cases
@pytest.mark.parametrize("bundle_type", ["collection", "transaction"])
def test_medplum_validator_finds_no_errors(name, bundle_type, tmp_path):
    for mark in mp.NEEDS_MEDPLUM:
        if mark.args[0]:
            pytest.skip(mark.kwargs["reason"])
    text = bundle_json(report(name), bundle_type=bundle_type)
    result = mp.check(text, tmp_path)
    assert result["errors"] == []
    assert result["warnings"] == []
    if bundle_type == "transaction":
        entries = len(json.loads(text)["entry"])
        assert result["transaction"]["first"]["statuses"] == ["201"] * entries
        assert result["transaction"]["second"]["statuses"] == ["200"] * entries
        assert result["transaction"]["observations"] == len(resources(json.loads(text), "Observation"))


def _search(base: str, query: str) -> list[dict]:
    status, found = mp.http(base, query)
    assert status == 200, found
    return [e["resource"] for e in found.get("entry", [])]


def _by_identifier(base: str, kind: str, resource: dict) -> list[dict]:
    own = resource["identifier"][0]
    token = urllib.parse.quote(f"{own['system']}|{own['value']}", safe="")
    return _search(base, f"/{kind}?identifier={token}&_count=1000")


def strip(concept: dict) -> dict:
    """A CodeableConcept without its derivation extension (whose reference the server rewrites)."""
    kept = [e for e in concept.get("extension", []) if "derivation-reference" not in e["url"]]
    return {**{k: v for k, v in concept.items() if k != "extension"}, **({"extension": kept} if kept else {})}


@cases
def test_transaction_is_stored_read_back_and_not_duplicated(name, medplum_server):
    bundle = build_bundle(report(name), bundle_type="transaction")
    status, answer = mp.http(medplum_server, "/", bundle)
    assert status == 200, answer
    assert [e["response"]["status"] for e in answer["entry"]] == ["201"] * len(bundle["entry"])
    references = re.findall(r'"reference": "([^"]*)"', json.dumps([e["resource"] for e in answer["entry"]]))
    assert references and not [r for r in references if r.startswith("urn:uuid:")]
    (patient,) = [e["resource"] for e in answer["entry"] if e["resource"]["resourceType"] == "Patient"]

    observations = resources(bundle, "Observation")
    for sent in observations:
        (stored,) = _by_identifier(medplum_server, "Observation", sent)
        assert stored["code"] == sent["code"]
        for value in ("valueQuantity", "valueCodeableConcept"):
            assert stored.get(value) == sent.get(value)
        assert stored["subject"]["reference"] == f"Patient/{patient['id']}"
        for link in stored.get("partOf", []):
            assert link["reference"].startswith("ImagingStudy/")
    for sent in resources(bundle, "Condition"):
        (stored,) = _by_identifier(medplum_server, "Condition", sent)
        assert stored["code"] == sent["code"]
        assert [strip(s) for s in stored.get("bodySite", [])] == [strip(s) for s in sent.get("bodySite", [])]
        assert stored.get("meta", {}).get("profile") == sent.get("meta", {}).get("profile")

    status, again = mp.http(medplum_server, "/", bundle)
    assert status == 200 and [e["response"]["status"] for e in again["entry"]] == ["200"] * len(bundle["entry"])
    stored = _search(medplum_server, f"/Observation?subject=Patient/{patient['id']}&_count=1000")
    assert len(stored) == len(observations)


@cases
@versions
def test_cli_validate_accepts_the_written_bundle(name, version, tmp_path):
    from click.testing import CliRunner

    from caseconv.cli import main

    path = tmp_path / f"{name}.fhir.json"
    path.write_text(bundle_json(report(name), version=version), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--fhir-version", version, str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{path}: ok\n"
