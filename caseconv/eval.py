"""Score `caseconv extract` output against reference annotations (``<case>.gold.yaml``).

The rules are those of the reference cases' README: matching on words (lower case, NFKC,
dashes folded, punctuation dropped, plurals singular, stop words and laterality words
ignored); a prediction matches a gold item when all words of the gold term, or of one of
its ``alt`` names, occur in the prediction's text or its concept's display; each gold
item matches at most one prediction, best word overlap first; a further prediction that
matches an already-matched gold item is neutral, any other unmatched one is a false
positive. Attributes are scored on matched findings; a predicted finding or diagnosis
that matches a ``not_findings`` phrase is a discussion leak.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from caseconv.coding.tables import singular
from caseconv.parse.measure import expand_level

STOP_WORDS = frozenset("""a an the of in into on at to for from with within by and or as is are was were be been
this that these those its it there no not other""".split())
LATERALITY_WORDS = frozenset({"left", "right", "bilateral", "both", "sided", "unilateral"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


def words(text: str | None) -> frozenset[str]:
    """The scoring words of a text."""
    if not text:
        return frozenset()
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", text).lower())
    tokens = re.findall(r"[\w']+", text.replace("-", " "))
    result = set()
    for token in tokens:
        token = token.replace("'", "")
        if token in STOP_WORDS or token in LATERALITY_WORDS or not token:
            continue
        result.add(singular(token))
    return frozenset(result)


def _names(item: dict[str, Any]) -> list[frozenset[str]]:
    return [w for w in (words(n) for n in [item["term"], *(item.get("alt") or [])]) if w]


def _prediction_words(item: dict[str, Any]) -> frozenset[str]:
    code = item.get("code") or {}
    return words(item.get("text")) | words(code.get("display"))


def _overlap(gold: dict[str, Any], predicted: frozenset[str]) -> int:
    """Word overlap of the best gold name all of whose words the prediction holds (0: no match)."""
    return max((len(name) for name in _names(gold) if name <= predicted), default=0)


@dataclass
class Matching:
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    neutral: int = 0


def match(gold: list[dict[str, Any]], predicted: list[dict[str, Any]]) -> Matching:
    """Pair gold and predicted items by the rules above."""
    candidates = []
    pwords = [_prediction_words(p) for p in predicted]
    for g_index, item in enumerate(gold):
        for p_index, found in enumerate(pwords):
            overlap = _overlap(item, found)
            if overlap:
                candidates.append((-overlap, g_index, p_index))
    candidates.sort()
    gold_used: set[int] = set()
    predicted_used: set[int] = set()
    result = Matching()
    for _, g_index, p_index in candidates:
        if g_index in gold_used or p_index in predicted_used:
            continue
        gold_used.add(g_index)
        predicted_used.add(p_index)
        result.pairs.append((gold[g_index], predicted[p_index]))
    for p_index, item in enumerate(predicted):
        if p_index in predicted_used:
            continue
        if any(_overlap(gold[g], pwords[p_index]) for g in gold_used):
            result.neutral += 1
        else:
            result.false_positives.append(item)
    result.missed = [g for i, g in enumerate(gold) if i not in gold_used]
    return result


def _mm(value: float, unit: str) -> float:
    return round(float(value) * {"cm": 10.0, "mm": 1.0, "m": 1000.0}.get(unit, 1.0), 3)


def _vertebrae(levels: Iterable[str]) -> set[str]:
    return {v for level in levels for v in expand_level(str(level).replace("\u2013", "-"))}


@dataclass
class Tally:
    """Counts that add up across cases (micro averages)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    dx_tp: int = 0
    dx_fp: int = 0
    dx_fn: int = 0
    leaks: int = 0
    site: list[float] = field(default_factory=list)
    laterality: list[float] = field(default_factory=list)
    level: list[float] = field(default_factory=list)
    measurement: list[float] = field(default_factory=list)
    presence: list[float] = field(default_factory=list)
    coded: list[float] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    @staticmethod
    def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    def summary(self) -> dict[str, float]:
        def mean(values: list[float]) -> float:
            return sum(values) / len(values) if values else 1.0

        precision, recall, f1 = self._f1(self.tp, self.fp, self.fn)
        attributes = self.site + self.laterality + self.level + self.measurement + self.presence
        return {
            "finding_precision": precision, "finding_recall": recall, "finding_f1": f1,
            "site": mean(self.site), "laterality": mean(self.laterality), "level": mean(self.level),
            "measurement": mean(self.measurement), "presence": mean(self.presence),
            "attributes": mean(attributes), "diagnosis_f1": self._f1(self.dx_tp, self.dx_fp, self.dx_fn)[2],
            "leaks": float(self.leaks), "coding_rate": mean(self.coded),
        }


def score(prediction: dict[str, Any], gold: dict[str, Any]) -> Tally:
    """Score one prediction (the JSON of `caseconv extract`) against one gold annotation."""
    tally = Tally()
    findings = match(gold.get("findings") or [], prediction.get("findings") or [])
    tally.tp, tally.fp, tally.fn = len(findings.pairs), len(findings.false_positives), len(findings.missed)
    for expected, found in findings.pairs:
        sites = [s for s in (expected.get("sites") or [])]
        if sites:
            predicted_sites = [words(s.get("text")) | words((s.get("code") or {}).get("display"))
                               for s in found.get("sites") or []]
            hits = sum(1 for s in sites if any(words(s) <= p for p in predicted_sites))
            tally.site.append(hits / len(sites))
        tally.laterality.append(float(expected.get("laterality") == found.get("laterality")))
        gold_levels, found_levels = _vertebrae(expected.get("levels") or []), _vertebrae(found.get("levels") or [])
        if gold_levels or found_levels:
            tally.level.append(len(gold_levels & found_levels) / len(gold_levels | found_levels))
        gold_mm = sorted(_mm(m["value"], m["unit"]) for m in expected.get("measurements") or [])
        found_mm = sorted(_mm(m["value"], m["unit"]) for m in found.get("measurements") or [])
        if gold_mm or found_mm:
            tally.measurement.append(float(gold_mm == found_mm))
        tally.presence.append(float(expected.get("presence", "present") == found.get("presence")))
        tally.coded.append(float(found.get("code") is not None))
        for site in found.get("sites") or []:
            tally.coded.append(float(site.get("code") is not None))
    diagnoses = prediction.get("diagnoses") or []
    for status_gold, predicted in (
            (gold.get("diagnoses") or [], [d for d in diagnoses if d.get("status") != "differential"]),
            (gold.get("differentials") or [], [d for d in diagnoses if d.get("status") == "differential"])):
        result = match(status_gold, predicted)
        tally.dx_tp += len(result.pairs)
        tally.dx_fp += len(result.false_positives)
        tally.dx_fn += len(result.missed)
        tally.coded.extend(float(found.get("code") is not None) for _, found in result.pairs)
    for phrase in gold.get("not_findings") or []:
        phrase_words = words(phrase)
        for item in [*(prediction.get("findings") or []), *diagnoses]:
            if phrase_words and phrase_words <= _prediction_words(item):
                tally.leaks += 1
                tally.leaked.append(f"{phrase} <- {item.get('text')}")
    return tally


def load_gold(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def gold_cases(folder: Path) -> list[tuple[Path, Path]]:
    """Each ``<case>.txt`` with its ``<case>.gold.yaml`` in a folder."""
    pairs = []
    for gold in sorted(folder.glob("*.gold.yaml")):
        text = gold.with_name(gold.name[: -len(".gold.yaml")] + ".txt")
        if text.exists():
            pairs.append((text, gold))
    return pairs
