"""Check mapping tables before they are used, reporting every problem at once.

Why: a wrong code in a table turns into a wrong code in every FHIR bundle and SR written
from it, silently. Codes recalled from memory failed their check digits four times out
of four, and one SNOMED CT code can mean different things in different DICOM CIDs, so
each row is checked against the check-digit rules and against pydicom's copy of DICOM
PS3.16. The checker never stops at the first problem: it returns them all, each naming
file, row, field and reason (``caseconv mappings check [DIR]`` prints them).
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from caseconv.coding.tables import COLUMNS, normalize, shipped_folder, table_files
from caseconv.model import SYSTEM_URIS

#: Longest display a DICOM Code Meaning (LO) may hold.
MAX_DISPLAY = 64
#: Header comments every table must carry.
REQUIRED_HEADERS = ("table", "version", "sources")
#: Laterality must come from CID 244 (SCT codes), not CID 2 or a FHIR guide.
LATERALITY_CID = 244
LATERALITY_TERMS = frozenset({"left", "right", "bilateral", "unilateral"})

_HEADER = re.compile(r"^#\s*([\w-]+)\s*:\s*(.*?)\s*$")
#: SNOMED CT hierarchy tags and "structure" wording that differ between PS3.16 meanings.
_TAG = re.compile(r"\s*\([a-z /]+\)\s*$", re.I)
_SCTID = re.compile(r"^[1-9][0-9]{5,17}$")
_LOINC = re.compile(r"^([0-9]{1,7})-([0-9])$")
_CID_244 = re.compile(r"\bCIDs?\b[^;]*?\b244\b")

# Verhoeff's dihedral-group tables (multiplication and permutation).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(code: str) -> bool:
    """Whether an SCTID's last digit is the Verhoeff check digit of the rest (6-18 digits)."""
    if not _SCTID.match(code):
        return False
    check = 0
    for position, digit in enumerate(reversed(code)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check == 0


def loinc_ok(code: str) -> bool:
    """Whether a LOINC code ``NNNNN-C`` has the right mod-10 check digit ``C``."""
    match = _LOINC.match(code)
    if not match:
        return False
    total = 0
    for position, char in enumerate(reversed(match.group(1))):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10 == int(match.group(2))


@dataclass(frozen=True)
class Problem:
    """One problem in a table: where it is (file, row, field) and what is wrong."""

    path: Path
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.row}: {self.field}: {self.reason}"


def _meaning_key(text: str) -> str:
    return " ".join(_TAG.sub("", text).split()).casefold()


@lru_cache(maxsize=1)
def _pydicom_meanings() -> dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]]:
    """(scheme, code) -> (comparison keys of every meaning, the meanings as written)."""
    from pydicom.sr._concepts_dict import concepts

    found: dict[tuple[str, str], list[str]] = {}
    for scheme, keywords in concepts.items():
        for entries in keywords.values():
            for code, (meaning, _cids) in entries.items():
                found.setdefault((scheme, code), []).append(meaning)
    return {key: (frozenset(_meaning_key(m) for m in ms), tuple(sorted(set(ms))))
            for key, ms in found.items()}


@lru_cache(maxsize=1)
def _cid_codes(cid: int) -> frozenset[tuple[str, str]]:
    """The (scheme, code) pairs pydicom lists in one CID."""
    from pydicom.sr._cid_dict import cid_concepts
    from pydicom.sr._concepts_dict import concepts

    return frozenset((scheme, code) for scheme, keywords in cid_concepts.get(cid, {}).items()
                     for keyword in keywords for code in concepts.get(scheme, {}).get(keyword, {}))


def _read(path: Path, problems: list[Problem]) -> list[tuple[int, list[str]]]:
    """The data rows of a table with their line numbers; header problems go to ``problems``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(path, 0, "file", f"cannot be read: {error}"))
        return []
    headers: dict[str, str] = {}
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if line.startswith("#"):
            match = _HEADER.match(line)
            if match:
                headers.setdefault(match.group(1).lower(), match.group(2))
        else:
            lines.append((number, line))
    for key in REQUIRED_HEADERS:
        if not headers.get(key):
            problems.append(Problem(path, 1, "header", f"no '# {key}: ...' comment"))
    if headers.get("table") and headers["table"] != path.stem:
        problems.append(Problem(path, 1, "header",
                                f"'# table: {headers['table']}' does not match the file name"))
    rows = list(zip((n for n, _ in lines), csv.reader(line for _, line in lines), strict=False))
    if not rows:
        problems.append(Problem(path, 1, "header", f"no column header {','.join(COLUMNS)}"))
        return []
    number, header = rows[0]
    if tuple(h.strip() for h in header) != COLUMNS:
        problems.append(Problem(path, number, "header",
                                f"columns must be {','.join(COLUMNS)}, not {','.join(header)}"))
        return []
    return [(n, row) for n, row in rows[1:] if any(cell.strip() for cell in row)]


def _check_code(path: Path, number: int, kind: str, cells: dict[str, str]) -> list[Problem]:
    """Problems with a row's scheme, code and display."""
    scheme, code, display = cells["scheme"], cells["code"], cells["display"]
    if not (scheme or code or display):
        return []
    if not (scheme and code and display):
        return [Problem(path, number, "code", "scheme, code and display must be all given or all empty")]
    problems = []
    if scheme not in SYSTEM_URIS:
        problems.append(Problem(path, number, "scheme",
                                f"unknown scheme {scheme!r} (known: {', '.join(SYSTEM_URIS)})"))
    if len(display) > MAX_DISPLAY:
        problems.append(Problem(path, number, "display",
                                f"{len(display)} characters, longer than {MAX_DISPLAY}"))
    if scheme == "SCT" and not verhoeff_ok(code):
        problems.append(Problem(path, number, "code", f"SNOMED CT {code!r} fails the Verhoeff check digit"))
    if scheme == "LN" and not loinc_ok(code):
        problems.append(Problem(path, number, "code", f"LOINC {code!r} fails the mod-10 check digit"))
    known = _pydicom_meanings().get((scheme, code))
    if known and _meaning_key(display) not in known[0]:
        problems.append(Problem(path, number, "display",
                                f"{display!r} is not a PS3.16 meaning of {scheme} {code} "
                                f"(pydicom: {' | '.join(known[1][:4])})"))
    term = normalize(cells["term"])
    if kind == "qualifiers" and term in LATERALITY_TERMS:
        if (scheme, code) not in _cid_codes(LATERALITY_CID):
            problems.append(Problem(path, number, "code",
                                    f"laterality {term!r} must be coded from CID {LATERALITY_CID}"))
        elif not _CID_244.search(cells["source"]):
            problems.append(Problem(path, number, "source",
                                    f"laterality {term!r} must name CID {LATERALITY_CID} as its source"))
    return problems


def _check_file(path: Path, names: dict[tuple[str, str], tuple[tuple[str, str] | None, str]]
                ) -> list[Problem]:
    """Every problem of one table; ``names`` holds the names seen so far in its layer."""
    problems: list[Problem] = []
    kind = path.stem
    for number, row in _read(path, problems):
        if len(row) != len(COLUMNS):
            problems.append(Problem(path, number, "row", f"{len(row)} cells, expected {len(COLUMNS)}"))
            continue
        cells = dict(zip(COLUMNS, (cell.strip() for cell in row), strict=True))
        if not cells["term"]:
            problems.append(Problem(path, number, "term", "empty term"))
        if not cells["source"]:
            problems.append(Problem(path, number, "source", "the row names no source"))
        problems.extend(_check_code(path, number, kind, cells))
        code = (cells["scheme"], cells["code"]) if cells["code"] else None
        synonyms = [s.strip() for s in cells["synonyms"].split("|") if s.strip()]
        for field, name in [("term", cells["term"]), *(("synonyms", s) for s in synonyms)]:
            key = (kind, normalize(name))
            if not key[1]:
                continue
            seen = names.setdefault(key, (code, f"{path.name}:{number}"))
            if seen[0] != code:
                other = f"{seen[0][0]} {seen[0][1]}" if seen[0] else "no code"
                problems.append(Problem(path, number, field,
                                        f"{name!r} also names {seen[1]} with {other}"))
    return problems


def check_tables(folders: Iterable[Path]) -> list[Problem]:
    """Every problem in the tables of ``folders`` (each with its ``seed/``), in file order.

    Duplicate names are looked for within a kind and a layer (a folder's ``seed/`` tables,
    or its curated tables): a curated row naming a seeded term is an override, not a problem.
    """
    problems: list[Problem] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            problems.append(Problem(folder, 0, "folder", "not a folder of mapping tables"))
            continue
        layers: dict[Path, dict] = {}
        for path in table_files(folder):
            problems.extend(_check_file(path, layers.setdefault(path.parent, {})))
    return problems


def check_main(folders: Iterable[Path | str] = ()) -> int:
    """Print every problem in ``folders`` (the shipped tables if none); 0 if clean, else 1."""
    paths = [Path(f) for f in folders] or [shipped_folder()]
    problems = check_tables(paths)
    for problem in problems:
        print(problem)
    files = len({p.path for p in problems})
    summary = f"{len(problems)} problem(s) in {files} file(s)" if problems else "no problems"
    print(f"{summary} in {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 1 if problems else 0
