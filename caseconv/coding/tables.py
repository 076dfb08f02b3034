"""Load the mapping tables in ``mappings/``: terms radiologists write -> coded concepts.

A table is a CSV file named after its kind (``anatomy.csv``, ``findings.csv`` ...). Its
first lines are ``# key: value`` comments naming the table's version and sources; then
a header row ``term,synonyms,scheme,code,display,source``:

- ``term``: the preferred name; ``synonyms``: other names, separated by ``|``;
- ``scheme``/``code``/``display``: the concept (DICOM coding scheme designator, e.g.
  SCT, LN, DCM, RADLEX, UCUM), or all three empty for a term caseconv recognises but
  has no verified code for (it stays text and is reported as unmapped);
- ``source``: where the code was verified (a CID in DICOM PS3.16 as pydicom ships it,
  or the address of a published value set).

Tables load from the shipped folder, its ``seed/`` subfolder (rows derived from the
DICOM standard's code lists), its ``verified/`` subfolder (codes checked one by one
against published value sets) and any site folders given; on a term defined twice the
later table wins, except that a row without a code never removes a code.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from caseconv.model import Code

COLUMNS = ("term", "synonyms", "scheme", "code", "display", "source")
#: The kinds of table the pipeline reads; a table of another name is loaded too.
KINDS = ("anatomy", "findings", "diagnoses", "procedures", "modalities", "qualifiers",
         "units", "sections", "symptoms")

_DASHES = re.compile(r"[\u2010-\u2015\u2212\u00ad]")
_NON_WORD = re.compile(r"[^\w\s*/+-]")
#: Irregular plurals of anatomy and pathology; regular ones follow the rules below.
_IRREGULAR = {
    "foramina": "foramen", "vertebrae": "vertebra", "metastases": "metastasis",
    "diagnoses": "diagnosis", "calyces": "calyx", "appendices": "appendix",
    "emboli": "embolus", "thrombi": "thrombus", "bronchi": "bronchus", "lumina": "lumen",
    "sulci": "sulcus", "gyri": "gyrus", "nuclei": "nucleus", "ganglia": "ganglion",
    "phalanges": "phalanx", "cortices": "cortex", "apices": "apex", "vertices": "vertex",
    "indices": "index", "pleurae": "pleura", "bullae": "bulla", "fistulae": "fistula",
    "stenoses": "stenosis", "herniae": "hernia", "testes": "testis", "pelves": "pelvis",
    "bases": "base", "lymphadenopathies": "lymphadenopathy", "viscera": "viscus",
    "sinuses": "sinus", "abscesses": "abscess", "masses": "mass", "processes": "process",
}
_NO_SINGULAR = re.compile(r"(ss|us|is|ous|ics|ies|as|os|xis|sis)$")


def singular(word: str) -> str:
    """The singular of an English or Latin anatomical noun (``foramina`` -> ``foramen``)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not _NO_SINGULAR.search(word):
        if word.endswith(("ches", "shes", "xes", "zes")):
            return word[:-2]
        return word[:-1]
    return word


def normalize(text: str) -> str:
    """The lookup key of a term: lower case, NFKC, dashes folded, plurals singular."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DASHES.sub("-", text).replace("-", " ").replace("'s", "").replace("\u2019s", "")
    text = _NON_WORD.sub(" ", text)
    return " ".join(singular(w) for w in text.split())


@dataclass(frozen=True)
class Concept:
    """One row of a table: a term with its synonyms and, where verified, its code."""

    kind: str
    term: str
    synonyms: tuple[str, ...]
    code: Code | None
    source: str
    origin: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.term, *self.synonyms)


class TableError(ValueError):
    """A table that cannot be read: names the file, the row and the problem."""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [(n, line) for n, line in enumerate(handle, 1) if not line.startswith("#")]
    reader = csv.reader(line for _, line in lines)
    header = next(reader, None)
    if header is None:
        return
    if tuple(h.strip() for h in header) != COLUMNS:
        raise TableError(f"{path}: header must be {','.join(COLUMNS)}, not {','.join(header)}")
    for (number, _), row in zip(lines[1:], reader):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            raise TableError(f"{path}:{number}: {len(row)} cells, expected {len(COLUMNS)}")
        yield number, dict(zip(COLUMNS, (cell.strip() for cell in row)))


def read_table(path: Path) -> list[Concept]:
    """Read one table file into concepts; raises `TableError` naming file and row."""
    kind = path.stem
    concepts = []
    for number, row in _rows(path):
        if not row["term"]:
            raise TableError(f"{path}:{number}: empty term")
        code = None
        if row["code"] or row["scheme"]:
            try:
                code = Code(row["scheme"], row["code"], row["display"])
            except ValueError as error:
                raise TableError(f"{path}:{number}: {error}") from None
        if not row["source"]:
            raise TableError(f"{path}:{number}: the row names no source")
        synonyms = tuple(s.strip() for s in row["synonyms"].split("|") if s.strip())
        concepts.append(Concept(kind, row["term"], synonyms, code, row["source"], f"{path.name}:{number}"))
    return concepts


#: Sub-folders of a table folder, in load order: rows derived from DICOM PS3.16, then
#: codes verified one by one against published value sets; the folder's own curated tables last.
LAYERS = ("seed", "verified")


def table_files(folder: Path) -> list[Path]:
    """The table files of a folder, layer by layer, so later layers override earlier ones."""
    files: list[Path] = []
    for layer in LAYERS:
        if (folder / layer).is_dir():
            files.extend(sorted((folder / layer).glob("*.csv")))
    return [*files, *sorted(folder.glob("*.csv"))]


class Tables:
    """All concepts by kind, indexed by normalised name."""

    def __init__(self, concepts: Iterable[Concept]) -> None:
        self._index: dict[tuple[str, str], Concept] = {}
        for concept in concepts:
            for name in concept.names:
                key = (concept.kind, normalize(name))
                known = self._index.get(key)
                # a later row overrides, but a name caseconv merely recognises does not undo a code
                if known is None or concept.code is not None or known.code is None:
                    self._index[key] = concept

    def lookup(self, kind: str, text: str) -> Concept | None:
        """The concept of ``kind`` one of whose names normalises like ``text``; for a name a
        curated row lists without a code, the concept that codes that row's term ("subdural
        haematoma" is a name of the subdural hematoma a verified row codes)."""
        concept = self._index.get((kind, normalize(text)))
        if concept is not None and concept.code is None:
            coded = self._index.get((kind, normalize(concept.term)))
            if coded is not None and coded.code is not None:
                return coded
        return concept

    def names(self, kind: str) -> dict[str, Concept]:
        """Every name of ``kind`` (as written in the table) with the concept the index holds
        for it, so a name a later table codes on its own ("subluxation") is not read as the
        curated concept that also lists it ("dislocation")."""
        result: dict[str, Concept] = {}
        for (k, key), concept in self._index.items():
            if k == kind:
                for name in concept.names:
                    if normalize(name) == key:
                        result.setdefault(name, concept)
        return result

    def concepts(self, kind: str | None = None) -> list[Concept]:
        unique = {id(c): c for (k, _), c in self._index.items() if kind is None or k == kind}
        return list(unique.values())

    def __len__(self) -> int:
        return len({id(c) for c in self._index.values()})


def shipped_folder() -> Path:
    """The tables that ship inside the installed package."""
    return Path(str(resources.files("caseconv.mappings")))


@lru_cache(maxsize=8)
def load_tables(extra: tuple[str, ...] = ()) -> Tables:
    """The shipped tables, overlaid by each site folder in ``extra`` (loaded once per process)."""
    concepts: list[Concept] = []
    for folder in (shipped_folder(), *(Path(e) for e in extra)):
        if not folder.is_dir():
            raise TableError(f"{folder}: not a folder of mapping tables")
        for path in table_files(folder):
            concepts.extend(read_table(path))
    return Tables(concepts)
