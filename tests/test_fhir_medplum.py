"""Medplum's validator and transaction router as a second opinion on our R4 bundles.

Needs node and the packages `scripts/deps/fhir.sh` installs into .deps/node; skips,
saying so, when they are missing.
"""

from __future__ import annotations

import json
import os
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
