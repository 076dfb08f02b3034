"""Give a parsed `CaseReport` its codes; keep what no table codes as text and list it.

One strictness setting decides what an unmapped term does, as pydicom's config does for
invalid values: ``ignore`` (listed in ``unmapped`` only), ``warn`` (listed, and a Python
warning), ``error`` (raise `UnmappedError`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import Literal

from caseconv.coding.tables import Concept, Tables, normalize
from caseconv.model import CaseReport, Code, Diagnosis, Finding, HistoryItem, Procedure, Site, Span, Unmapped

Strictness = Literal["ignore", "warn", "error"]


class UnmappedError(ValueError):
    """A term no table codes, under strictness ``error``."""


def _code(concept: Concept | None) -> Code | None:
    return concept.code if concept is not None else None


#: Words that change what the rest of a name means: "non Hodgkin lymphoma" is not a
#: Hodgkin lymphoma, a "pseudo aneurysm" no aneurysm; a name holding one is not shortened.
_ALTERING = frozenset({"non", "pseudo", "no", "not", "without", "mimicking", "mimic", "simulating",
                       "like", "versus", "vs", "or", "and", "nor", "excluding", "except"})
#: A TNM stage written after a tumour's name: "adenocarcinoma of the lung, cT2b N2 M1c".
_TNM = re.compile(r",?\s*\b[cpy]?T[0-4xX](?:is|[a-d])?\s*,?\s*N[0-3xX][a-c]?\s*,?\s*M[01xX][a-c]?\b")
#: A list of alternatives: its last words name one of them, not the whole.
_ALTERNATIVES = re.compile(r"[,/;]|\bvs\.?\b")


def _lookup_words(tables: Tables, kinds: tuple[str, ...], text: str) -> Concept | None:
    """The concept of ``text``, or of its head: the name less a parenthesis, a trailing
    "of"/"in"/"with"/"arising from" phrase ("osteitis of the spine", "Wilms tumour with tumour
    thrombus") or leading modifiers ("ruptured appendicitis").

    A head is the broader concept the term is a kind of, so the code stays true while the
    text keeps what is more specific; names with a word that alters the rest, and lists of
    alternatives, keep only their own code. Each name is looked up in ``kinds`` in order
    (a finding the findings table leaves uncoded may be a disorder the diagnoses table codes
    under the same name: "volvulus").
    """
    bare = _TNM.sub("", re.sub(r"\s*\(.*?\)\s*", " ", text)).strip()
    candidates = [text, bare]
    if not _ALTERNATIVES.search(bare):
        head = re.split(r"\s+(?:of|in|within|involving|at|with|arising (?:from|in)|originating from|secondary to|"
                        r"due to|caused by|associated with|complicating|causing|fulfilling|meeting)\s+", bare,
                        maxsplit=1)[0]
        candidates.extend(_less_modifiers(bare, len(head.split())))  # "osteitis of the spine"
        candidates.append(head)
        candidates.extend(_less_modifiers(head, len(head.split())))
    return next((concept for candidate in candidates if (concept := _coded(tables, kinds, candidate))), None)


def _less_modifiers(name: str, head_words: int) -> list[str]:
    """``name`` less one, two... of the leading words of its head, up to a word that alters
    the rest ("pyogenic osteitis of the spine" -> "osteitis of the spine")."""
    words = name.split()
    found = []
    for i in range(1, head_words):
        if words[i - 1].lower().strip("-").split("-")[0] in _ALTERING:  # "non-ossifying"
            break
        found.append(" ".join(words[i:]))
    return found


def _coded(tables: Tables, kinds: tuple[str, ...], name: str) -> Concept | None:
    """The first concept with a code that ``name`` names in ``kinds``, in that order."""
    for kind in kinds:
        concept = tables.lookup(kind, name)
        if concept is not None and concept.code is not None:
            return concept
    return None


#: "upper pole of the kidney": a part named by where it lies in a whole the tables know.
_PART_OF = re.compile(
    r"^(?:(?:upper|lower|mid|middle|superior|inferior|anterior|posterior|medial|lateral|central|"
    r"peripheral|distal|proximal|outer|inner|deep)\s+)*(?:pole|portion|part|segment|aspect|surface|"
    r"margin|wall|tip|border|half|third|end|neck|fundus|dome|apex|base|body|head|tail|root)s?\s+of\s+"
    r"(?:the\s+)?(?P<whole>[\w\s-]+)$", re.IGNORECASE)


def _whole(site: str) -> str:
    """The structure a site lies in: "upper pole of kidney" -> "kidney"; a structure itself."""
    part = _PART_OF.match(site.strip())
    return part["whole"] if part is not None else site


def _site(tables: Tables, site: Site) -> Site:
    """A site's own code, or, for a part of a structure ("upper pole of kidney"), the
    structure's: the finding lies in it, which stays true; the text keeps the part."""
    code = _code(tables.lookup("anatomy", site.text))
    if code is None and (whole := _whole(site.text)) != site.text:
        code = _code(tables.lookup("anatomy", whole))
    return replace(site, code=code)


def _procedure(tables: Tables, procedure: Procedure) -> Procedure:
    region = _site(tables, procedure.region) if procedure.region else None
    code = None
    if region is not None:
        suffix = {"with": " with contrast", "without": " without contrast"}.get(procedure.contrast or "", "")
        for name in (f"{procedure.modality} {region.text}{suffix}", f"{procedure.modality} {region.text}"):
            code = _code(tables.lookup("procedures", name))
            if code:
                break
    return replace(procedure, region=region, code=code)


#: Where a finding's name is looked up: the findings table, then the diagnoses table.
_FINDING_KINDS = ("findings", "diagnoses")


def _finding(tables: Tables, finding: Finding) -> Finding:
    """The finding's own code: the concept the parser recognised, or a more specific one its
    words name ("bucket handle tear" for a tear); never a broader one, for a finding's head
    is already the general word ("joint space narrowing" is not a stenosis)."""
    concept = _coded(tables, _FINDING_KINDS, finding.concept) if finding.concept else None
    found = _lookup_words(tables, _FINDING_KINDS, finding.text)
    if found is not None and (finding.concept is None or _holds(found, finding.concept)):
        concept = found if concept is None or len(found.term) > len(concept.term) else concept
    if finding.concept:
        placed = _placed(tables, finding)
        if placed is not None and (concept is None or len(placed.term) > len(concept.term)):
            concept = placed
    return replace(finding, code=_code(concept), sites=tuple(_site(tables, s) for s in finding.sites))


def _placed(tables: Tables, finding: Finding) -> Concept | None:
    """The concept that names the finding with its site ("renal calculus" for a calculus in
    the kidney, "fracture of femur"), where a table has one; not for a finding in several
    places ("lesions in the liver and spleen" are no liver lesion)."""
    wholes = {normalize(_whole(site.text)) for site in finding.sites}
    if len(wholes) != 1:
        return None
    (whole,) = wholes
    anatomy = tables.lookup("anatomy", whole)
    for name in anatomy.names if anatomy is not None else (whole,):
        for candidate in (f"{name} {finding.concept}", f"{finding.concept} of {name}",
                          f"{finding.concept} of the {name}", f"{finding.concept} in {name}"):
            concept = _coded(tables, _FINDING_KINDS, candidate)
            if concept is not None and _holds(concept, finding.concept):
                return concept
    return None


def _holds(concept: Concept, words: str) -> bool:
    """Whether one of the concept's names holds every word of ``words``."""
    wanted = set(normalize(words).split())
    return any(wanted <= set(normalize(name).split()) for name in concept.names)


def _diagnosis(tables: Tables, diagnosis: Diagnosis) -> Diagnosis:
    return replace(diagnosis, code=_code(_lookup_words(tables, ("diagnoses", "findings"), diagnosis.text)))


def _history(tables: Tables, item: HistoryItem) -> HistoryItem:
    return replace(item, code=_code(_lookup_words(tables, ("symptoms",), item.text)))


def code_report(report: CaseReport, tables: Tables, strictness: Strictness = "ignore") -> CaseReport:
    """The report with every term a table knows coded, and the rest listed in ``unmapped``."""
    procedures = tuple(_procedure(tables, p) for p in report.procedures)
    findings = tuple(_finding(tables, f) for f in report.findings)
    diagnoses = tuple(_diagnosis(tables, d) for d in report.diagnoses)
    history = tuple(_history(tables, h) for h in report.history)
    unmapped: list[Unmapped] = []
    seen: set[tuple[str, str]] = set()

    def note(text: str, span: Span | None, kind: str) -> None:
        if (text.lower(), kind) not in seen:
            seen.add((text.lower(), kind))
            unmapped.append(Unmapped(text, span, kind))

    for finding in findings:
        if finding.code is None:
            note(finding.text, finding.span, "finding")
        for site in finding.sites:
            if site.code is None:
                note(site.text, site.span, "site")
    for diagnosis in diagnoses:
        if diagnosis.code is None:
            note(diagnosis.text, diagnosis.span, "diagnosis")
    for item in history:
        if item.code is None:
            note(item.text, item.span, "history")
    for procedure in procedures:
        if procedure.region is not None and procedure.region.code is None:
            note(procedure.region.text, procedure.region.span, "region")
    if unmapped and strictness != "ignore":
        message = f"{report.case}: {len(unmapped)} unmapped terms: " + ", ".join(u.text for u in unmapped[:5])
        if strictness == "error":
            raise UnmappedError(message)
        warnings.warn(message, stacklevel=2)
    return replace(report, procedures=procedures, findings=findings, diagnoses=diagnoses, history=history,
                   unmapped=tuple(unmapped))
