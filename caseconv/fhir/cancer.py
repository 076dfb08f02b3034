"""Which diagnoses are primary cancers, and where they are: the data behind the mCODE Condition.

The rule, with its data in ``cancer.json`` (sources named there):

1. A diagnosis is a *primary cancer* when its code is in DICOM CID 639 (Tumor Graft
   Histologic Type) or CID 6033 (Malignant Pathology Codes from BI-RADS), less the
   secondary and non-disease members the table excludes, or is one of its ``also`` codes.
   An uncoded diagnosis is never called a cancer: the writer does not guess from words.
2. Only a diagnosis the report asserts (confirmed or provisional) is shaped as mCODE's
   PrimaryCancerCondition; a differential is a possibility, not the patient's cancer.
3. Its ``bodySite`` is taken from the findings it explains. The model does not link a
   diagnosis to findings, so these are the report's *present* findings coded with a lesion
   concept (Mass, Lesion, Neoplasm, Primary neoplasm, Nodule; from CID 7159): their *coded*
   sites, in report order, each with that finding's laterality, without repeats. Sites the
   coder could not code stay on the findings' Observations and are not copied here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from caseconv.model import Code, Finding, Site


@cache
def table() -> dict[str, Any]:
    """The parsed ``cancer.json`` (read once per process)."""
    text = resources.files("caseconv.fhir").joinpath("cancer.json").read_text(encoding="utf-8")
    return json.loads(text)


def cid_members(cid: int) -> set[tuple[str, str]]:
    """(scheme, value) of every concept of a CID in pydicom's PS3.16 dictionary."""
    from pydicom.sr._cid_dict import cid_concepts
    from pydicom.sr.codedict import codes

    members: set[tuple[str, str]] = set()
    for scheme, keywords in cid_concepts[cid].items():
        collection = getattr(codes, scheme)
        for keyword in keywords:
            members.add((scheme, getattr(collection, keyword).value))
    return members


@cache
def primary_cancer_codes() -> frozenset[tuple[str, str]]:
    """(scheme, value) of every code the writer treats as a primary cancer."""
    section = table()["primary_cancer"]
    found: set[tuple[str, str]] = set()
    for entry in section["cids"]:
        found |= cid_members(entry["cid"])
    found -= {(e["scheme"], e["value"]) for e in section["exclude"]}
    found |= {(e["scheme"], e["value"]) for e in section["also"]}
    return frozenset(found)


@cache
def lesion_codes() -> frozenset[tuple[str, str]]:
    return frozenset((e["scheme"], e["value"]) for e in table()["lesion_findings"]["codes"])


def is_primary_cancer(code: Code | None) -> bool:
    return code is not None and (code.scheme, code.value) in primary_cancer_codes()


def explained_findings(findings: tuple[Finding, ...]) -> list[Finding]:
    """The findings a primary cancer of the report explains (rule 3 above)."""
    return [f for f in findings if f.presence == "present" and f.code is not None
            and (f.code.scheme, f.code.value) in lesion_codes()]


def body_sites(findings: tuple[Finding, ...]) -> list[tuple[Site, str | None]]:
    """The coded sites of the explained findings with each finding's laterality, once each."""
    sites: list[tuple[Site, str | None]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for finding in explained_findings(findings):
        for site in finding.sites:
            if site.code is None:
                continue
            key = (site.code.scheme, site.code.value, finding.laterality)
            if key not in seen:
                seen.add(key)
                sites.append((site, finding.laterality))
    return sites


def profile_url() -> str:
    return str(table()["profile"]["url"])


def category() -> dict[str, str]:
    entry = table()["category"]
    return {"system": entry["system"], "code": entry["code"], "display": entry["display"]}
