"""The fixed codes of the FHIR writer, loaded from ``codes.json`` next to this module.

Codes live in data with their source (principle 2 of STYLE.md), so that a test can
check every one against pydicom's PS3.16 dictionary and none is written from memory.
The UCUM and DICOM modality codes are looked up in pydicom directly.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from caseconv.model import SYSTEM_URIS, Measurement


@cache
def table() -> dict[str, Any]:
    """The parsed ``codes.json`` (cached: it is read once per process)."""
    text = resources.files("caseconv.fhir").joinpath("codes.json").read_text(encoding="utf-8")
    return json.loads(text)


def coding(name: str) -> dict[str, str]:
    """A FHIR Coding for a named entry of the ``codes`` section."""
    entry = table()["codes"][name]
    return {"system": SYSTEM_URIS[entry["scheme"]], "code": entry["value"], "display": entry["display"]}


def measurement_kind(kind: str | None) -> dict[str, str] | None:
    """The CID 7470 Coding for a measurement kind ("long axis", ...), or None when unknown."""
    if not kind:
        return None
    entry = table()["measurement_kinds"].get(kind.strip().lower())
    if not isinstance(entry, dict):
        return None
    return {"system": SYSTEM_URIS[entry["scheme"]], "code": entry["value"], "display": entry["display"]}


def default_kinds(measurements: tuple[Measurement, ...]) -> list[str | None]:
    """The kind assumed for each number of a finding that has none (``default_kinds`` table).

    None where the number has a kind of its own, or where no default applies: more numbers
    than the table knows, or a number that is not a length ("20 cc" is no diameter).
    """
    unkinded = [i for i, m in enumerate(measurements) if not m.kind]
    result: list[str | None] = [None] * len(measurements)
    defaults = table()["default_kinds"].get(str(len(unkinded)))
    if not defaults or any(measurements[i].millimetres is None for i in unkinded):
        return result
    order = unkinded
    if len(unkinded) == 2 and (measurements[unkinded[1]].millimetres or 0) > (
            measurements[unkinded[0]].millimetres or 0):
        order = [unkinded[1], unkinded[0]]
    for index, kind in zip(order, defaults, strict=True):
        result[index] = kind
    return result


def fhir_coding(name: str, code: str | None = None) -> dict[str, str]:
    """A Coding of an HL7 code system (``fhir`` section); ``code`` picks one of ``codes``."""
    entry = table()["fhir"][name]
    if code is None:
        return {"system": entry["system"], "code": entry["code"], "display": entry["display"]}
    return {"system": entry["system"], "code": code, "display": entry["codes"][code]}


def url(name: str) -> str:
    return table()["urls"][name]


@cache
def _pydicom_index(scheme: str) -> dict[str, str]:
    """value -> meaning of one pydicom scheme (UCUM: 96 units; DCM: ~4.8k concepts)."""
    from pydicom.sr.codedict import codes

    collection = getattr(codes, scheme)
    index: dict[str, str] = {}
    for name in dir(collection):
        if name.startswith("_"):
            continue
        try:
            code = getattr(collection, name)
        except (AttributeError, ValueError):
            continue
        value = getattr(code, "value", None)
        if isinstance(value, str):
            index.setdefault(value, code.meaning)
    return index


def ucum(unit: str) -> str | None:
    """The unit as a UCUM code when pydicom's UCUM dictionary knows it, else None."""
    return unit if unit in _pydicom_index("UCUM") else None


def ucum_display(unit: str) -> str:
    """A readable unit name (pydicom's UCUM meaning: "year" for ``a``), else the unit."""
    return _pydicom_index("UCUM").get(unit, unit)


def modality(value: str) -> dict[str, str]:
    """The DICOM modality Coding (CID 29 Acquisition Modality; ``OT`` is in CID 32/33)."""
    display = _pydicom_index("DCM").get(value)
    coding_ = {"system": SYSTEM_URIS["DCM"], "code": value}
    if display:
        coding_["display"] = display
    return coding_
