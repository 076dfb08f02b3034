"""Independent checks of a written FHIR bundle, one problem per line with its JSON path.

fhir.resources alone accepts ``status: finished`` and numbers written as strings, so a
bundle is checked four ways: the fhir.resources model parse, the official FHIR JSON
Schema of each resource (shipped in ``schemas/``, draft-06, one resource at a time so the
errors stay readable), reference integrity within the bundle, the elements caseconv
promises (every imaging Observation is ``partOf``/``derivedFrom`` the ImagingStudy), and
the rules of the guides resources claim (mCODE's primary cancer Condition).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from os import PathLike
from typing import Any

VERSIONS = ("R4", "R5")
_SCHEMA_FILES = {"R4": "fhir-r4.schema.json.gz", "R5": "fhir-r5.schema.json.gz"}
IMAGING_CATEGORY = ("http://terminology.hl7.org/CodeSystem/observation-category", "imaging")


@cache
def load_schema(version: str) -> dict[str, Any]:
    """The official FHIR JSON Schema of a version (read and decompressed once per process)."""
    if version not in _SCHEMA_FILES:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    data = resources.files("caseconv.fhir").joinpath("schemas", _SCHEMA_FILES[version]).read_bytes()
    return json.loads(gzip.decompress(data))


@cache
def _validator(version: str, resource_type: str) -> Any:
    from jsonschema import Draft6Validator

    definitions = load_schema(version)["definitions"]
    if resource_type not in definitions:
        return None
    return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": definitions})


def path_of(parts: Any) -> str:
    """('entry', 3, 'resource', 'status') -> 'entry[3].resource.status'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "$"


def _load(path_or_dict: str | PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(path_or_dict, dict):
        return path_or_dict
    with open(path_or_dict, encoding="utf-8") as handle:
        return json.load(handle)


def check_model(bundle: dict[str, Any], version: str) -> list[str]:
    """The fhir.resources parse (R4 through the R4B models): types, unknown elements, formats."""
    import pydantic

    from caseconv.fhir.build import model_class

    try:
        model_class(version, "Bundle").model_validate(bundle)
    except pydantic.ValidationError as error:
        return [f"{path_of(e['loc'])}: {e['msg']} [fhir.resources]" for e in error.errors()]
    return []


def check_schema(bundle: dict[str, Any], version: str) -> list[str]:
    """Each resource, and the bundle without its resources, against the official JSON Schema."""
    problems: list[str] = []
    shell = dict(bundle)
    shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in bundle.get("entry", [])
                      if isinstance(e, dict)]
    targets: list[tuple[list[Any], Any]] = [([], shell)]
    for index, entry in enumerate(bundle.get("entry", [])):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            targets.append((["entry", index, "resource"], entry["resource"]))
    for prefix, resource in targets:
        resource_type = resource.get("resourceType")
        validator = _validator(version, resource_type) if isinstance(resource_type, str) else None
        if validator is None:
            problems.append(f"{path_of([*prefix, 'resourceType'])}: unknown resource type "
                            f"{resource_type!r} [schema]")
            continue
        for error in sorted(validator.iter_errors(resource), key=lambda e: list(map(str, e.absolute_path))):
            message = error.message if len(error.message) < 240 else error.message[:237] + "..."
            problems.append(f"{path_of([*prefix, *error.absolute_path])}: {message} [schema]")
    return problems


def _references(node: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield [*path, key], value
            else:
                yield from _references(value, [*path, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, [*path, index])


def check_references(bundle: dict[str, Any]) -> list[str]:
    """Every ``reference`` resolves to an entry's fullUrl (or Type/id of an entry); fullUrls unique."""
    problems: list[str] = []
    targets: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(bundle.get("entry", [])):
        full_url = entry.get("fullUrl")
        resource = entry.get("resource") or {}
        if full_url in targets:
            problems.append(f"entry[{index}].fullUrl: duplicate fullUrl {full_url} [references]")
        if full_url:
            targets[full_url] = resource
        if resource.get("id") and resource.get("resourceType"):
            targets.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)
    for path, value in _references(bundle.get("entry", []), ["entry"]):
        if value.startswith("#"):
            continue
        if value not in targets:
            problems.append(f"{path_of(path)}: reference {value} resolves to no entry of the bundle "
                            "[references]")
    return problems


def _resolve(bundle: dict[str, Any], reference: Any) -> dict[str, Any] | None:
    if not isinstance(reference, dict):
        return None
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") or {}
        if reference.get("reference") in (entry.get("fullUrl"),
                                          f"{resource.get('resourceType')}/{resource.get('id')}"):
            return resource
    return None


def _is_imaging(resource: dict[str, Any]) -> bool:
    for category in resource.get("category", []) or []:
        for coding in category.get("coding", []) or []:
            if (coding.get("system"), coding.get("code")) == IMAGING_CATEGORY:
                return True
    return False


_REQUIRED = {
    "Observation": ("status", "code", "subject"),
    "DiagnosticReport": ("status", "code", "subject"),
    "Condition": ("code", "subject", "verificationStatus"),
    "ImagingStudy": ("status", "subject", "identifier"),
}


def check_required(bundle: dict[str, Any]) -> list[str]:
    """What caseconv promises beyond the base spec (transaction requests, study links)."""
    problems: list[str] = []
    transaction = bundle.get("type") == "transaction"
    for index, entry in enumerate(bundle.get("entry", [])):
        where = f"entry[{index}]"
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        for name in _REQUIRED.get(kind, ()):
            if not resource.get(name):
                problems.append(f"{where}.resource.{name}: {kind}.{name} is required [caseconv]")
        if transaction:
            request = entry.get("request") or {}
            if not request.get("method") or not request.get("url"):
                problems.append(f"{where}.request: a transaction entry needs request.method and "
                                "request.url [caseconv]")
        if kind == "ImagingStudy":
            uids = [series.get("uid") for series in resource.get("series", []) or []]
            for number, uid in enumerate(uids):
                if uid in uids[:number]:
                    problems.append(f"{where}.resource.series[{number}].uid: duplicate series UID "
                                    f"{uid} [caseconv]")
        if kind == "Observation" and _is_imaging(resource):
            links = [*(resource.get("partOf") or []), *(resource.get("derivedFrom") or [])]
            if not any((_resolve(bundle, r) or {}).get("resourceType") == "ImagingStudy" for r in links):
                problems.append(f"{where}.resource.partOf: an imaging Observation must be partOf or "
                                "derivedFrom the bundle's ImagingStudy [caseconv]")
    return problems


_CONDITION_CATEGORIES = {
    ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"),
    ("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis"),
    ("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern"),
}
_SCT = "http://snomed.info/sct"


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def check_guides(bundle: dict[str, Any]) -> list[str]:
    """Rules of the guides a resource claims in ``meta.profile``: mCODE PrimaryCancerCondition.

    Checked here because no profile validator runs offline: a US Core category, a coded
    ``code``, and at most one mCODE laterality qualifier per bodySite, from its value set.
    """
    from caseconv.fhir.cancer import table

    profile = table()["profile"]
    problems: list[str] = []
    for index, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource") or {}
        profiles = (resource.get("meta") or {}).get("profile") or []
        if resource.get("resourceType") != "Condition" or profile["url"] not in profiles:
            continue
        where = f"entry[{index}].resource"
        categories = {(c.get("system"), c.get("code")) for cat in resource.get("category") or []
                      for c in _codings(cat)}
        if not categories & _CONDITION_CATEGORIES:
            problems.append(f"{where}.category: a primary cancer Condition needs a US Core category "
                            "(problem-list-item, encounter-diagnosis or health-concern) [mcode]")
        if not _codings(resource.get("code")):
            problems.append(f"{where}.code: a primary cancer Condition needs a coded code [mcode]")
        for number, site in enumerate(resource.get("bodySite") or []):
            qualifiers = [e for e in (site.get("extension") or []) if isinstance(e, dict)
                          and e.get("url") == profile["laterality_extension"]]
            if len(qualifiers) > 1:
                problems.append(f"{where}.bodySite[{number}].extension: at most one laterality "
                                "qualifier [mcode]")
            for qualifier in qualifiers:
                codes = {(c.get("system"), c.get("code")) for c in _codings(qualifier.get("valueCodeableConcept"))}
                if not codes & {(_SCT, value) for value in profile["laterality_values"]}:
                    problems.append(f"{where}.bodySite[{number}].extension: laterality qualifier not in "
                                    "mCODE LateralityQualifierVS [mcode]")
    return problems


def guess_version(bundle: dict[str, Any]) -> str:
    """"R5" when the bundle parses as R5 but not as R4 (caseconv's R5 bundles say so nowhere)."""
    if not check_model(bundle, "R4"):
        return "R4"
    try:
        return "R5" if not check_model(bundle, "R5") else "R4"
    except (KeyError, ValueError, TypeError):  # a resource type R5 does not have (R4's Media)
        return "R4"


def validate_bundle(path_or_dict: str | PathLike[str] | dict[str, Any], *, version: str = "R4",
                    schema: bool = True) -> list[str]:
    """All problems of a bundle (file path or dict), one line each, prefixed by its JSON path.

    An empty list means the bundle passed every check. ``schema=False`` skips the JSON
    Schema pass (it loads a 4 MB schema on first use).
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    try:
        bundle = _load(path_or_dict)
    except (OSError, json.JSONDecodeError) as error:
        return [f"$: cannot read the bundle: {error}"]
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return ["resourceType: not a FHIR Bundle"]
    if not isinstance(bundle.get("entry", []), list) or not all(
            isinstance(e, dict) for e in bundle.get("entry", [])):
        return ["entry: must be a list of objects"]
    problems = check_model(bundle, version)
    if schema:
        problems += check_schema(bundle, version)
    problems += check_references(bundle)
    problems += check_required(bundle)
    problems += check_guides(bundle)
    return problems


__all__ = ["check_guides", "check_model", "check_references", "check_required", "check_schema",
           "guess_version", "load_schema", "validate_bundle"]
