"""The verified mapping tables (mappings/verified): every code sourced, check digits, meanings.

Codes recalled from memory failed their check digits four times out of four, so every row
in mappings/verified names where its code was found (a DICOM PS3.16 CID as pydicom ships
it, or the address of a published value set or terminology file), and the README lists
each code with its source. These tests hold the tables to that.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from caseconv.coding.checks import MAX_DISPLAY, _pydicom_meanings, check_tables, loinc_ok, verhoeff_ok
from caseconv.coding.tables import COLUMNS, KINDS, normalize, read_table

FOLDER = Path(__file__).resolve().parents[1] / "mappings" / "verified"
TABLES = sorted(FOLDER.glob("*.csv"))
#: A source is a PS3.16 CID as pydicom ships it, or an address (URL or github owner/repo path).
SOURCE = re.compile(r"\bCID\s+\d+|https?://\S+|\bgithub\s+[\w.-]+/[\w.-]+\s+\S+")


def rows() -> list[tuple[str, int, dict[str, str]]]:
    """Every data row of every verified table: (file name, line, cells)."""
    found = []
    for path in TABLES:
        lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if not line.startswith("#")]
        reader = csv.reader(line for _, line in lines)
        header = next(reader)
        assert tuple(header) == COLUMNS, path
        for (number, _), cells in zip(lines[1:], reader, strict=True):
            if any(c.strip() for c in cells):
                found.append((path.name, number, dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))))
    return found


ROWS = rows()
IDS = [f"{name}:{number}:{cells['term']}" for name, number, cells in ROWS]


def test_the_folder_holds_tables_of_known_kinds() -> None:
    assert TABLES, f"no tables in {FOLDER}"
    for path in TABLES:
        assert path.stem in KINDS, path.name
    assert (FOLDER / "README.md").is_file()


def test_the_checker_finds_no_problem() -> None:
    problems = check_tables([FOLDER])
    assert not problems, "\n".join(str(p) for p in problems)


def test_the_tables_load() -> None:
    for path in TABLES:
        concepts = read_table(path)
        assert concepts and all(c.code is not None for c in concepts), path.name


@pytest.mark.parametrize(("name", "number", "cells"), ROWS, ids=IDS)
def test_every_row_is_coded_and_names_its_source(name: str, number: int, cells: dict[str, str]) -> None:
    assert cells["scheme"] and cells["code"] and cells["display"], "a verified row carries a code"
    assert SOURCE.search(cells["source"]), f"{cells['source']!r} names no CID or address"


@pytest.mark.parametrize(("name", "number", "cells"), ROWS, ids=IDS)
def test_check_digits_and_display_length(name: str, number: int, cells: dict[str, str]) -> None:
    scheme, code = cells["scheme"], cells["code"]
    if scheme == "SCT":
        assert verhoeff_ok(code), f"SNOMED CT {code} fails the Verhoeff check"
    elif scheme == "LN":
        assert loinc_ok(code), f"LOINC {code} fails the mod-10 check"
    elif scheme == "RADLEX":
        assert re.fullmatch(r"RID\d+", code), code
    assert len(cells["display"]) <= MAX_DISPLAY


@pytest.mark.parametrize(("name", "number", "cells"), ROWS, ids=IDS)
def test_pydicom_meaning_matches_where_pydicom_knows_the_code(name: str, number: int,
                                                               cells: dict[str, str]) -> None:
    known = _pydicom_meanings().get((cells["scheme"], cells["code"]))
    if known is None:
        assert "CID" not in cells["source"], "a row citing a CID must be in pydicom's dictionary"
        return
    display = re.sub(r"\s*\([a-z /]+\)\s*$", "", cells["display"], flags=re.I).casefold()
    assert " ".join(display.split()) in known[0], f"pydicom meanings: {known[1]}"


def test_no_name_is_defined_twice_within_a_kind() -> None:
    seen: dict[tuple[str, str], str] = {}
    for name, number, cells in ROWS:
        names = [cells["term"], *(s for s in cells["synonyms"].split("|") if s.strip())]
        for item in names:
            key, here = (name, normalize(item)), f"{name}:{number}"
            assert seen.setdefault(key, here) == here, f"{item!r} in {here} also at {seen[key]}"


def test_the_readme_lists_every_code() -> None:
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for name, number, cells in ROWS:
        assert cells["code"] in readme, f"{name}:{number} {cells['code']} is not in README.md"


def test_a_row_that_names_a_cid_has_its_code_in_that_cid() -> None:
    """'DICOM PS3.16 CID 4' on a row is a claim pydicom can check: the code is in that CID."""
    from caseconv.coding.checks import _cid_codes

    folder = FOLDER.parent
    wrong = []
    for path in sorted([*folder.glob("*.csv"), *(folder / "seed").glob("*.csv"), *FOLDER.glob("*.csv")]):
        for concept in read_table(path):
            if concept.code is None:
                continue
            for cid in re.findall(r"\bCID (\d+)", concept.source):
                if (concept.code.scheme, concept.code.value) not in _cid_codes(int(cid)):
                    wrong.append(f"{concept.origin} {concept.code.value} not in CID {cid}")
    assert not wrong, wrong[:10]
