"""Generate ``mappings/seed/<kind>.csv`` from the DICOM PS3.16 code lists that pydicom ships.

Why: codes recalled from memory fail their check digits; pydicom's code dictionary is the
broadest offline, freely usable source of verified codes. Each seed row takes its display
from one named CID (one SNOMED CT code can mean different things in different CIDs, e.g.
64033007 is "Kidney" in CID 8134 but "Endo-renal" in CID 4), so the row's source names it.

Which CIDs feed which table, in priority order, is the ``KIND_CIDS`` table below; the
radiologist synonyms, exclusions and the table version are data in ``seed_synonyms.yaml``.
Output is sorted and deterministic: run it twice, get the same bytes.

    python scripts/seed_mappings.py [--out mappings/seed] [--check]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import yaml
from pydicom.sr._cid_dict import cid_concepts, name_for_cid
from pydicom.sr._concepts_dict import concepts

from caseconv.coding.tables import COLUMNS, normalize
from caseconv.model import SYSTEM_URIS

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "mappings" / "seed"
SYNONYMS_FILE = HERE / "seed_synonyms.yaml"
MAX_DISPLAY = 64

#: The CIDs each table draws on, in priority order: a concept found in several CIDs takes
#: its display (and source) from the first; a concept goes to the first kind that has it.
KIND_CIDS: dict[str, tuple[int, ...]] = {
    # Laterality (244) first so left/right/bilateral/unilateral come from CID 244 only.
    "qualifiers": (244, 240, 6312, 6343, 6344, 6345, 6346, 6311, 6339, 6341, 6004, 6006,
                   3716, 252, 242, 212, 2),
    "modalities": (29, 33),
    "units": (7460, 7461, 7462, 7456, 7181),
    "anatomy": (8134, 7192, 9514, 7153, 7154, 7155, 7156, 7160, 7166, 7167, 7170, 7171,
                4, 4009, 4030, 4031, 4040, 4042, 6115, 6116, 6117, 6149, 6300, 7600, 7602,
                7603, 7604, 7140, 7710, 3010, 3015, 10044, 10060),
    "findings": (7159, 7194, 6335, 6336, 6337, 6347, 3810, 3805, 3808, 6101, 6103, 6104,
                 6105, 6106, 6148, 6102, 6014, 6016, 6054, 6056, 6064, 6201, 3491, 3728,
                 3704, 3711),
    "diagnoses": (6030, 6031, 6032, 6033, 639, 3700, 4405),
    "procedures": (100, 9, 3108, 3206, 3428, 3757, 3820, 6050, 6083, 646),
}
#: The order in which kinds claim a concept that several would take.
CLAIM_ORDER = ("qualifiers", "modalities", "units", "anatomy", "findings", "diagnoses", "procedures")
#: SNOMED CT hierarchy tags and "structure" wording that add nothing to a radiologist's name.
_TAG = re.compile(r"\s*\((body structure|morphologic abnormality|disorder|finding|procedure|"
                  r"qualifier value|observable entity|regime/therapy|physical object|"
                  r"substance|attribute|cell structure|tissue|environment)\)\s*$", re.I)
#: SNOMED CT descriptions safe to offer as synonyms (qualifier values are too generic).
_FSN_TAG = re.compile(r"\((body structure|morphologic abnormality|disorder|procedure)\)\s*$", re.I)
#: SNOMED CT hierarchies a table must not take a concept from: CID 8134 "Anatomic Structure"
#: also lists tumours and devices, which belong with the findings.
_NOT_FOR = {
    "anatomy": re.compile(r"\((morphologic abnormality|disorder|finding|physical object|substance|"
                          r"procedure|qualifier value)\)\s*$", re.I),
    "findings": re.compile(r"\((body structure|procedure)\)\s*$", re.I),
}
_STRUCTURE_OF = re.compile(r"^(entire )?structure of (the )?", re.I)
_STRUCTURE = re.compile(r"\s+structure$", re.I)
#: Meanings that are an approach or a position relative to an organ, not the organ (CID 4).
_APPROACH = re.compile(r"^(endo|intra|trans|peri|para|extra|supra|sub)-", re.I)
_WORDLIKE = re.compile(r"[a-z]")


@dataclass
class Row:
    """One seed row: a concept with its display and source CID, and its names."""

    kind: str
    scheme: str
    code: str
    display: str
    cid: int
    term: str
    synonyms: list[str] = field(default_factory=list)

    def cells(self, version: str) -> list[str]:
        source = f"DICOM PS3.16 CID {self.cid} (pydicom {version} codedict)"
        return [self.term, "|".join(self.synonyms), self.scheme, self.code, self.display, source]


def clean(meaning: str) -> str:
    """A radiologist's name for a PS3.16 meaning: lower case, without SNOMED 'structure' wording."""
    text = _TAG.sub("", meaning).strip()
    text = _STRUCTURE_OF.sub("", text)
    text = _STRUCTURE.sub("", text)
    return " ".join(text.split()).lower().rstrip(".")


def meanings_by_code() -> dict[tuple[str, str], list[tuple[str, list[int]]]]:
    """Every (scheme, code) pydicom knows, with each meaning and the CIDs it has that meaning in."""
    index: dict[tuple[str, str], list[tuple[str, list[int]]]] = defaultdict(list)
    for scheme, keywords in concepts.items():
        for entries in keywords.values():
            for code, (meaning, cids) in entries.items():
                index[(scheme, code)].append((meaning, list(cids)))
    return index


def _cid_members(cid: int) -> dict[tuple[str, str], str]:
    """The (scheme, code) pairs of one CID, each with its pydicom keyword."""
    members = {}
    for scheme, keywords in cid_concepts.get(cid, {}).items():
        for keyword in keywords:
            for code in concepts.get(scheme, {}).get(keyword, {}):
                members[(scheme, code)] = keyword
    return members


def _keyword_words(keyword: str) -> str:
    """``SquareCentimeter`` -> ``square centimeter``: a spelled-out name for a unit."""
    return " ".join(re.findall(r"[A-Z][a-z]+|[0-9]+|[A-Z]+(?![a-z])", keyword)).lower()


def _meaning_in(index: dict, key: tuple[str, str], cid: int) -> str | None:
    for meaning, cids in index[key]:
        if cid in cids:
            return meaning
    return None


def _fsn_synonyms(index: dict, key: tuple[str, str], term: str) -> list[str]:
    """Names from the same code's CID-less entries (SNOMED CT descriptions): safe synonyms."""
    names = []
    for meaning, cids in index[key]:
        if cids or not _FSN_TAG.search(meaning):
            continue
        name = clean(meaning)
        if name != term and "structure" not in name and "," not in name and len(name.split()) <= 5:
            names.append(name)
    return names


def _plural_synonym(kind: str, term: str) -> list[str]:
    """The plural of a term the loader's singular() would miss ("kidneys"), for nouns' tables."""
    if kind in ("anatomy", "findings", "diagnoses") and " of " not in term and re.search(r"[aeiou]y$", term):
        plural = term + "s"
        if normalize(plural) != normalize(term):
            return [plural]
    return []


def _wrong_hierarchy(index: dict, key: tuple[str, str], kind: str) -> str | None:
    """The SNOMED CT description that shows a concept belongs in another table, if any."""
    veto = _NOT_FOR.get(kind)
    for meaning, _cids in index[key] if veto else ():
        if veto.search(meaning):
            return meaning
    return None


def _is_junk(term: str, display: str) -> bool:
    """Names no report would use as a term: single letters, codes, formulae, over-long."""
    return (len(term) < 3 or not _WORDLIKE.search(term) or len(display) > MAX_DISPLAY
            or any(ch in term for ch in "=^*_[]{}") or term.startswith("ambiguous"))


def build_rows(settings: dict) -> tuple[dict[str, list[Row]], list[str]]:
    """The seed rows of every kind, and notes on what was left out and why."""
    index = meanings_by_code()
    excluded = {str(k): str(v) for k, v in (settings.get("exclude") or {}).items()}
    extra = {str(k): [str(s) for s in v] for k, v in (settings.get("synonyms") or {}).items()}
    forced = {str(k): str(v) for k, v in (settings.get("kinds") or {}).items()}
    claimed: set[tuple[str, str]] = set()
    tables: dict[str, list[Row]] = {}
    notes: list[str] = []
    for kind in CLAIM_ORDER:
        rows: list[Row] = []
        names: dict[str, tuple[str, str]] = {}
        for cid in KIND_CIDS[kind]:
            members = _cid_members(cid)
            for key in sorted(members):
                scheme, code = key
                if key in claimed or scheme not in SYSTEM_URIS:
                    continue
                ref = f"{scheme}:{code}"
                if forced.get(ref, kind) != kind:
                    continue
                display = _meaning_in(index, key, cid) or ""
                term = clean(display)
                if kind == "units":
                    term = _keyword_words(members[key]) or term
                if ref in excluded:
                    notes.append(f"{kind}: {ref} {display!r} excluded: {excluded[ref]}")
                    claimed.add(key)
                    continue
                if _is_junk(term, display) or (kind == "anatomy" and _APPROACH.match(display)):
                    notes.append(f"{kind}: {ref} {display!r} skipped (CID {cid}): not a term")
                    continue
                wrong = _wrong_hierarchy(index, key, kind)
                if wrong:
                    notes.append(f"{kind}: {ref} {display!r} skipped (CID {cid}): it is {wrong!r}")
                    continue
                if names.get(normalize(term), key) != key:
                    notes.append(f"{kind}: {ref} {display!r} skipped: term taken by {names[normalize(term)]}")
                    continue
                claimed.add(key)
                synonyms = [display.lower()] if display.lower() != term else []
                if kind == "units" and len(code) > 1 and code.lower() != term:
                    synonyms.append(code)
                synonyms += _fsn_synonyms(index, key, term) + [s.lower() for s in extra.get(ref, [])]
                synonyms += _plural_synonym(kind, term)
                row = Row(kind, scheme, code, display, cid, term)
                for name in [term, *synonyms]:
                    if len(normalize(name)) < 2:
                        continue
                    owner = names.setdefault(normalize(name), key)
                    if owner == key and name != term and name not in row.synonyms:
                        row.synonyms.append(name)
                rows.append(row)
        tables[kind] = sorted(rows, key=lambda r: (r.term, r.scheme, r.code))
    return tables, notes


def render(kind: str, rows: list[Row], settings: dict) -> str:
    """The CSV text of one seed table, header comments first."""
    version = pydicom.__version__
    cids = ", ".join(f"{c} ({name_for_cid.get(c, '?')})" for c in KIND_CIDS[kind])
    out = io.StringIO()
    out.write(f"# table: {kind}\n")
    out.write(f"# version: {settings['version']}\n")
    out.write(f"# sources: DICOM PS3.16 as shipped in pydicom {version} (pydicom.sr codedict); "
              f"CIDs {cids}\n")
    out.write("# generated by scripts/seed_mappings.py: do not edit by hand "
              "(synonyms and exclusions: scripts/seed_synonyms.yaml)\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells(version))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every seed table; exit 1 if a --check finds drift."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="fail if the tables on disk differ")
    parser.add_argument("--notes", action="store_true", help="print what was left out and why")
    args = parser.parse_args(argv)
    settings = yaml.safe_load(SYNONYMS_FILE.read_text(encoding="utf-8"))
    tables, notes = build_rows(settings)
    if args.notes:
        print("\n".join(notes), file=sys.stderr)
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, rows in tables.items():
        path = args.out / f"{kind}.csv"
        text = render(kind, rows, settings)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {len(rows)} concepts")
    for path in stale:
        print(f"{path}: differs from what scripts/seed_mappings.py generates", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
