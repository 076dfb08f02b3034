"""The mapping tables and their checker: check digits, PS3.16 meanings, every problem kind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.sr._cid_dict import cid_concepts
from pydicom.sr._concepts_dict import concepts

from caseconv.coding.checks import Problem, check_main, check_tables, loinc_ok, verhoeff_ok
from caseconv.coding.tables import Tables, read_table, shipped_folder, table_files

SEED = shipped_folder() / "seed"
SEED_KINDS = ("anatomy", "findings", "diagnoses", "procedures", "modalities", "qualifiers", "units")
HEADER = "# table: {kind}\n# version: 1\n# sources: test\nterm,synonyms,scheme,code,display,source\n"


def corrupt(code: str, position: int = -2) -> str:
    """The code with one digit changed: a single-digit error both check digits catch."""
    digits = list(code)
    digits[position] = str((int(digits[position]) + 1) % 10)
    return "".join(digits)


@pytest.mark.parametrize("code", ["4147007", "7771000", "24028007", "64033007", "1217253001",
                                  "394451000119106"])
def test_verhoeff_accepts_verified_sctids(code: str) -> None:
    assert verhoeff_ok(code)


@pytest.mark.parametrize("code", ["4147007", "7771000", "64033007"])
@pytest.mark.parametrize("position", [0, -2, -1])
def test_verhoeff_rejects_a_changed_digit(code: str, position: int) -> None:
    assert not verhoeff_ok(corrupt(code, position))


@pytest.mark.parametrize("code", ["", "12345", "4147007a", "04147007", "1" * 19])
def test_verhoeff_rejects_what_is_no_sctid(code: str) -> None:
    assert not verhoeff_ok(code)


@pytest.mark.parametrize("code", ["18748-4", "59776-5", "11528-7", "24967-2", "30679-5"])
def test_loinc_accepts_verified_codes(code: str) -> None:
    assert loinc_ok(code)


@pytest.mark.parametrize("code", ["18748-4", "59776-5"])
@pytest.mark.parametrize("position", [0, -3, -1])
def test_loinc_rejects_a_changed_digit(code: str, position: int) -> None:
    assert not loinc_ok(corrupt(code, position))


@pytest.mark.parametrize("code", ["", "18748", "18748-", "18748-44", "A8748-4", "12345678-9"])
def test_loinc_rejects_what_is_no_loinc(code: str) -> None:
    assert not loinc_ok(code)


def test_problem_prints_path_row_field_reason() -> None:
    assert str(Problem(Path("t/anatomy.csv"), 7, "code", "bad")) == "t/anatomy.csv:7: code: bad"


def test_seed_tables_have_no_problems() -> None:
    assert [str(p) for p in check_tables([SEED])] == []


def test_shipped_tables_have_no_problems() -> None:
    """Curated and seed tables together: what `caseconv mappings check` runs."""
    assert [str(p) for p in check_tables([shipped_folder()])] == []


def _seed_rows() -> list[tuple[str, int, dict[str, str]]]:
    import csv

    rows = []
    for kind in SEED_KINDS:
        path = SEED / f"{kind}.csv"
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
        for number, row in enumerate(csv.DictReader(lines), 2):
            rows.append((kind, number, row))
    return rows


def test_every_seeded_code_has_its_display_in_the_named_cid() -> None:
    wrong = []
    for kind, number, row in _seed_rows():
        match = re.fullmatch(r"DICOM PS3\.16 CID (\d+) \(pydicom [\d.]+ codedict\)", row["source"])
        assert match, f"{kind}:{number}: source {row['source']!r}"
        cid = int(match.group(1))
        keywords = cid_concepts[cid].get(row["scheme"], [])
        meanings = [concepts[row["scheme"]][k][row["code"]][0] for k in keywords
                    if row["code"] in concepts[row["scheme"]][k]]
        if meanings != [row["display"]]:
            wrong.append(f"{kind}:{number}: {row['code']} {row['display']!r} vs CID {cid} {meanings}")
    assert wrong == []


def test_seed_holds_enough_coded_concepts() -> None:
    rows = _seed_rows()
    assert len({(r["scheme"], r["code"]) for _, _, r in rows}) >= 1500
    assert {kind for kind, _, _ in rows} == set(SEED_KINDS)


def test_seed_takes_the_meaning_of_the_cid_it_names() -> None:
    """64033007 is "Endo-renal" in CID 4 but "Kidney" elsewhere: the seed must say kidney."""
    tables = Tables(c for path in table_files(SEED) for c in read_table(path))
    kidney = tables.lookup("anatomy", "kidneys")
    assert kidney is not None and kidney.code is not None
    assert (kidney.code.value, kidney.code.display) == ("64033007", "Kidney")
    assert tables.lookup("anatomy", "endo-renal") is None
    for side, code in (("left", "7771000"), ("right", "24028007"), ("bilateral", "51440002")):
        concept = tables.lookup("qualifiers", side)
        assert concept is not None and concept.code is not None
        assert concept.code.value == code and "CID 244" in concept.source
    assert tables.lookup("modalities", "MRI").code.value == "MR"  # type: ignore[union-attr]
    assert tables.lookup("units", "mm").code.value == "mm"  # type: ignore[union-attr]


def test_seed_generator_is_deterministic_and_up_to_date() -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "seed_mappings.py"
    if not script.exists():
        pytest.skip("scripts/ is not shipped with the package")
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _table(folder: Path, kind: str, rows: str, header: str | None = None) -> Path:
    path = folder / f"{kind}.csv"
    path.write_text((HEADER.format(kind=kind) if header is None else header) + rows, encoding="utf-8")
    return path


def _reasons(folder: Path) -> list[tuple[str, int, str, str]]:
    return [(p.path.name, p.row, p.field, p.reason) for p in check_tables([folder])]


def test_a_clean_table_has_no_problems(tmp_path: Path) -> None:
    _table(tmp_path, "findings", "mass,masses|mass lesion,SCT,4147007,Mass,CID 6102\n"
                                 "psoas abscess,,,,,curated: no verified code\n")
    assert _reasons(tmp_path) == []


BAD_ROWS = {
    "unknown scheme": ("findings", "mass,,SNOMED,4147007,Mass,x\n", "scheme", "unknown scheme"),
    "long display": ("findings", "mass,,DCM,999999,{},x\n".format("M" * 65), "display", "longer than 64"),
    "wrong meaning": ("anatomy", "kidney,,SCT,64033007,Kidney stone,x\n", "display",
                      "not a PS3.16 meaning"),
    "verhoeff": ("findings", f"mass,,SCT,{corrupt('4147007')},Mass,x\n", "code", "Verhoeff"),
    "loinc": ("findings", f"findings,,LN,{corrupt('59776-5', -3)},Findings,x\n", "code", "mod-10"),
    "no source": ("findings", "mass,,SCT,4147007,Mass,\n", "source", "no source"),
    "partial code": ("findings", "mass,,SCT,,Mass,x\n", "code", "all given or all empty"),
    "empty term": ("findings", ",,SCT,4147007,Mass,x\n", "term", "empty term"),
    "cell count": ("findings", "mass,,SCT,4147007,Mass,CID 2, 4\n", "row", "7 cells"),
    "laterality source": ("qualifiers", "left,,SCT,7771000,Left,DICOM PS3.16 CID 2\n", "source",
                          "CID 244"),
    "laterality code": ("qualifiers", "bilateral,,SCT,51440002,Bilateral,CID 244\n"
                        "right,,RADLEX,RID5825,Right,CH RAD-Order IG\n", "code", "CID 244"),
}


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_each_problem_kind_is_reported(tmp_path: Path, name: str) -> None:
    kind, rows, field, reason = BAD_ROWS[name]
    _table(tmp_path, kind, rows)
    found = _reasons(tmp_path)
    assert any(f == field and reason in r for _, _, f, r in found), found


def test_meaning_matches_any_cid_whatever_case_and_hierarchy_tag(tmp_path: Path) -> None:
    _table(tmp_path, "anatomy", "kidney,,SCT,64033007,KIDNEY,x\n"
                                "renal,,SCT,64033007,Kidney structure (body structure),x\n"
                                "endo-renal,,SCT,64033007,Endo-renal,x\n")
    assert _reasons(tmp_path) == []


def test_duplicate_term_with_two_codes_is_reported_in_a_layer_only(tmp_path: Path) -> None:
    _table(tmp_path, "anatomy", "spine,,SCT,421060004,Spine,x\n"
                                "spines,,SCT,122496007,Lumbar spine,x\n"
                                "back,spine,,,,x\n"
                                "spine,,SCT,421060004,Spine,x\n")
    found = _reasons(tmp_path)
    assert [(row, field) for _, row, field, _ in found] == [(6, "term"), (7, "synonyms")]
    assert "anatomy.csv:5 with SCT 421060004" in found[0][3]
    # A curated table overriding a seed term is not a duplicate.
    (tmp_path / "seed").mkdir()
    _table(tmp_path / "seed", "anatomy", "back,,SCT,77568009,Back,x\n")
    assert len(_reasons(tmp_path)) == 2


def test_missing_headers_are_reported(tmp_path: Path) -> None:
    _table(tmp_path, "units", "millimeter,mm,UCUM,mm,mm,x\n",
           header="# table: anatomy\nterm,synonyms,scheme,code,display,source\n")
    found = _reasons(tmp_path)
    reasons = [r for _, _, f, r in found if f == "header"]
    assert any("# version" in r for r in reasons) and any("# sources" in r for r in reasons)
    assert any("does not match the file name" in r for r in reasons)


def test_wrong_columns_and_missing_folder_are_reported(tmp_path: Path) -> None:
    _table(tmp_path, "units", "mm,UCUM,mm\n", header="# table: units\n# version: 1\n# sources: x\n"
                                                     "term,scheme,code\n")
    found = check_tables([tmp_path, tmp_path / "nowhere"])
    assert [(p.field, p.row) for p in found] == [("header", 4), ("folder", 0)]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    rows = "".join(r for kind, r, _, _ in BAD_ROWS.values() if kind == "findings")
    _table(tmp_path, "findings", rows)
    fields = {f for _, _, f, _ in _reasons(tmp_path)}
    assert {"scheme", "display", "code", "source", "term", "row"} <= fields


def test_check_main_prints_problems_and_sets_the_exit_code(tmp_path: Path, capsys) -> None:
    _table(tmp_path, "findings", "mass,,SCT,4147007,Mass,x\n")
    assert check_main([tmp_path]) == 0
    _table(tmp_path, "findings", "mass,,SCT,4147008,Mass,x\n")
    assert check_main([str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert out.out.startswith(f"{tmp_path / 'findings.csv'}:5: code: SNOMED CT '4147008'")
    assert "1 problem(s) in 1 file(s)" in out.err
