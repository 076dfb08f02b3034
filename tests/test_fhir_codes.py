"""Every fixed code of the FHIR writer is checked against pydicom's PS3.16 dictionary."""

from __future__ import annotations

import pytest
from pydicom.sr.codedict import codes

from caseconv.fhir import terms


def _entries():
    table = terms.table()
    for section in ("codes", "measurement_kinds"):
        for name, entry in table[section].items():
            if not name.startswith("_"):
                yield pytest.param(entry, id=f"{section}.{name}")


def _pydicom_names(scheme: str, value: str) -> list[str]:
    collection = getattr(codes, scheme)
    return [n for n in dir(collection) if not n.startswith("_")
            and getattr(getattr(collection, n), "value", None) == value]


@pytest.mark.parametrize("entry", list(_entries()))
def test_code_is_in_pydicom_with_its_cids(entry):
    if not entry["source"].startswith("pydicom"):
        assert entry["source"].startswith("HL7 THO"), "a code needs a verifiable source"
        return
    names = _pydicom_names(entry["scheme"], entry["value"])
    assert names, f"{entry['scheme']} {entry['value']} is not in pydicom's dictionary"
    for cid in entry.get("cid", []):
        members = getattr(codes, f"CID{cid}")
        assert any(getattr(getattr(codes, entry["scheme"]), n) in members for n in names), (
            f"{entry['value']} is not in CID {cid}")


def test_units_and_modalities_come_from_pydicom():
    assert terms.ucum("cm") == "cm" and terms.ucum("cc") is None
    assert terms.ucum_display("a") == "year"
    assert terms.modality("CT")["display"] == "Computed Tomography"
    assert terms.measurement_kind("Long Axis")["code"] == "103339001"
    assert terms.measurement_kind("girth") is None
