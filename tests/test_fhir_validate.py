"""validate_bundle: zero problems on ours, the right JSON path on broken bundles."""

from __future__ import annotations

import copy
import json

import pytest
from fhir_helpers.cases import sample_report

from caseconv.fhir import build_bundle, dumps
from caseconv.fhir.validate import load_schema, validate_bundle


@pytest.fixture(scope="module")
def bundle() -> dict:
    return build_bundle(sample_report(), bundle_type="transaction")


def index_of(bundle: dict, kind: str, text: str | None = None) -> int:
    for index, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] == kind and (text is None or resource["code"].get("text") == text):
            return index
    raise LookupError(kind)


def problems_after(bundle: dict, change) -> list[str]:
    broken = copy.deepcopy(bundle)
    change(broken)
    return validate_bundle(broken)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_our_bundles_have_no_problems(version, tmp_path):
    built = build_bundle(sample_report(), version=version)
    assert validate_bundle(built, version=version) == []
    path = tmp_path / "bundle.json"
    path.write_text(dumps(built), encoding="utf-8")
    assert validate_bundle(path, version=version) == []


def test_schema_is_loaded_once_and_is_draft6():
    assert load_schema("R4") is load_schema("R4")
    assert load_schema("R4")["$schema"].startswith("http://json-schema.org/draft-06/")
    assert "Media" in load_schema("R4")["definitions"] and "Media" not in load_schema("R5")["definitions"]


def test_wrong_status_code(bundle):
    i = index_of(bundle, "Observation", "psoas mass")

    def change(b):
        b["entry"][i]["resource"]["status"] = "finished"

    problems = problems_after(bundle, change)
    assert any(p.startswith(f"entry[{i}].resource.status: 'finished' is not one of") for p in problems)


def test_number_as_string(bundle):
    i = index_of(bundle, "Observation", "long axis")

    def change(b):
        b["entry"][i]["resource"]["valueQuantity"]["value"] = "12.1"

    assert f"entry[{i}].resource.valueQuantity.value: '12.1' is not of type 'number' [schema]" in (
        problems_after(bundle, change))


def test_unknown_element(bundle):
    i = index_of(bundle, "Condition")

    def change(b):
        b["entry"][i]["resource"]["severityScore"] = 3

    problems = problems_after(bundle, change)
    assert f"entry[{i}].resource.severityScore: Extra inputs are not permitted [fhir.resources]" in problems
    assert any(p.startswith(f"entry[{i}].resource: Additional properties") and "severityScore" in p
               for p in problems)


def test_dangling_reference(bundle):
    i = index_of(bundle, "DiagnosticReport")

    def change(b):
        b["entry"][i]["resource"]["result"][1]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"

    assert problems_after(bundle, change) == [
        f"entry[{i}].resource.result[1].reference: reference urn:uuid:00000000-0000-0000-0000-000000000000 "
        "resolves to no entry of the bundle [references]"]


def test_missing_part_of(bundle):
    i = index_of(bundle, "Observation", "lymphadenopathy")

    def change(b):
        del b["entry"][i]["resource"]["partOf"]

    assert problems_after(bundle, change) == [
        f"entry[{i}].resource.partOf: an imaging Observation must be partOf or derivedFrom the bundle's "
        "ImagingStudy [caseconv]"]


def test_missing_subject_and_request(bundle):
    i = index_of(bundle, "Observation", "Age")

    def change(b):
        del b["entry"][i]["resource"]["subject"]
        del b["entry"][i]["request"]

    problems = problems_after(bundle, change)
    assert f"entry[{i}].resource.subject: Observation.subject is required [caseconv]" in problems
    assert any(p.startswith(f"entry[{i}].request: a transaction entry needs") for p in problems)


def test_bad_date_and_duplicate_full_url(bundle):
    def change(b):
        b["timestamp"] = "2026-13-40T00:00:00Z"
        b["entry"][1]["fullUrl"] = b["entry"][0]["fullUrl"]

    problems = problems_after(bundle, change)
    assert any(p.startswith("timestamp:") for p in problems)
    assert any(p.startswith("entry[1].fullUrl: duplicate fullUrl") for p in problems)


def test_not_a_bundle_and_unreadable_file(tmp_path):
    assert validate_bundle({"resourceType": "Patient"}) == ["resourceType: not a FHIR Bundle"]
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    (problem,) = validate_bundle(path)
    assert problem.startswith("$: cannot read the bundle")
    assert validate_bundle(json.loads('{"resourceType": "Bundle", "type": "collection"}')) == []


def _status(b, i):
    b["entry"][i]["resource"]["status"] = "finished"


def _string_number(b, i):
    b["entry"][i]["resource"]["valueQuantity"]["value"] = "12.1"


def _unknown(b, i):
    b["entry"][i]["resource"]["severityScore"] = 3


def _dangling(b, i):
    b["entry"][i]["resource"]["result"][1]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"


def _no_part_of(b, i):
    del b["entry"][i]["resource"]["partOf"]


@pytest.mark.parametrize(("target", "change", "path"), [
    (("Observation", "psoas mass"), _status, "resource.status"),
    (("Observation", "long axis"), _string_number, "resource.valueQuantity.value"),
    (("Condition", None), _unknown, "resource.severityScore"),
    (("DiagnosticReport", None), _dangling, "resource.result[1].reference"),
    (("Observation", "lymphadenopathy"), _no_part_of, "resource.partOf"),
], ids=["status", "number-as-string", "unknown-element", "dangling-reference", "missing-partOf"])
def test_cli_validate_rejects_broken_bundles_with_the_path(bundle, tmp_path, target, change, path):
    from click.testing import CliRunner

    from caseconv.cli import main

    good = tmp_path / "good.fhir.json"
    good.write_text(dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    broken = copy.deepcopy(bundle)
    i = index_of(broken, *target)
    change(broken, i)
    bad = tmp_path / "bad.fhir.json"
    bad.write_text(dumps(broken), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1, result.output
    assert f"{bad}: entry[{i}].{path}" in result.output


def test_guess_version():
    from caseconv.fhir.validate import guess_version

    assert guess_version(build_bundle(sample_report())) == "R4"
    assert guess_version(build_bundle(sample_report(), version="R5")) == "R5"
    assert guess_version({"resourceType": "Bundle", "type": "collection"}) == "R4"


def test_cli_validate_r5_bundle_with_the_flag(tmp_path):
    from click.testing import CliRunner

    from caseconv.cli import main

    path = tmp_path / "r5.fhir.json"
    path.write_text(dumps(build_bundle(sample_report(), version="R5")), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--fhir-version", "R5", str(path)])
    assert result.exit_code == 0, result.output


def test_cli_validate_r5_bundle_without_the_flag(tmp_path):
    from click.testing import CliRunner

    from caseconv.cli import main

    path = tmp_path / "r5.fhir.json"
    path.write_text(dumps(build_bundle(sample_report(), version="R5")), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
