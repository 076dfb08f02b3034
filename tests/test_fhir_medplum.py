"""Medplum's validator and transaction router as a second opinion on our R4 bundles.

Needs node and the packages `scripts/deps/fhir.sh` installs into .deps/node; skips,
saying so, when they are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fhir_helpers.cases import minimal_report, sample_report

from caseconv.fhir import bundle_json

HELPER = Path(__file__).parent / "fhir_helpers" / "medplum_check.cjs"
PREFIX = Path(os.environ.get("CASECONV_NODE_PREFIX", Path(__file__).parents[1] / ".deps" / "node"))

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (PREFIX / "node_modules" / "@medplum" / "core").is_dir(),
                       reason=f"Medplum is not installed in {PREFIX}: run scripts/deps/fhir.sh"),
]


def medplum(text: str, tmp_path: Path) -> dict:
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    run = subprocess.run(["node", str(HELPER), str(PREFIX), str(path)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


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
    """Medplum's FHIR engine behind tests/fhir_helpers/medplum_server.cjs on 127.0.0.1."""
    server = subprocess.Popen(["node", str(Path(__file__).parent / "fhir_helpers" / "medplum_server.cjs"),
                               str(PREFIX)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line:
            pytest.fail(f"the Medplum server did not start: {server.stderr.read()}")
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def http(base: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if body else "GET",
                                     headers={"Content-Type": "application/fhir+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


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
