"""CaseReport -> FHIR Bundle (R4 or R5), and checks of written bundles.

The writer reads only a `CaseReport` (never text). It imports fhir.resources, so
`caseconv/__init__.py` does not import this package: ``caseconv --help`` stays fast.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from caseconv.model import CaseReport


def build_bundle(report: CaseReport, *, version: str = "R4", bundle_type: str = "collection",
                 issued: datetime | None = None) -> dict[str, Any]:
    """The report as a JSON-ready Bundle dict, validated by the fhir.resources models.

    ``version`` is "R4" (fhir.resources.R4B models) or "R5"; ``bundle_type`` "collection"
    or "transaction" (POST with ifNoneExist per entry). Without ``issued`` (an aware
    datetime) the bundle carries no time at all, so equal reports give equal bundles.
    """
    from caseconv.fhir.build import build

    return build(report, version, bundle_type, issued)


def dumps(bundle: dict[str, Any]) -> str:
    """Stable serialisation: element order as fhir.resources emits it, 2-space indent, final newline."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def bundle_json(report: CaseReport, **kw: Any) -> str:
    """`build_bundle` serialised; the same report and options give the same bytes."""
    return dumps(build_bundle(report, **kw))


__all__ = ["build_bundle", "bundle_json", "dumps"]
