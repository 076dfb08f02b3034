"""Extraction scored against the reference cases by the rules of ../shared/cases/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

import caseconv
from caseconv.eval import Tally, gold_cases, load_gold, match, score, words

THRESHOLDS = {"finding_f1": 0.90, "diagnosis_f1": 0.90, "attributes": 0.90}


def test_words_follow_the_scoring_rules() -> None:
    assert words("Left neural foramina") == {"neural", "foramen"}
    assert words("Pott's disease") == words("Potts disease") == {"pott", "disease"}
    assert words("air-fluid levels") == {"air", "fluid", "level"}


def test_matching_best_overlap_first_and_neutral_duplicates() -> None:
    gold = [{"term": "soft tissue mass", "alt": ["mass"]}, {"term": "heterogeneous enhancement"}]
    predicted = [{"text": "heterogeneous enhancement"}, {"text": "large soft tissue mass"}, {"text": "mass"},
                 {"text": "hydronephrosis"}]
    result = match(gold, predicted)
    assert [(g["term"], p["text"]) for g, p in result.pairs] == [
        ("soft tissue mass", "large soft tissue mass"), ("heterogeneous enhancement", "heterogeneous enhancement")]
    assert result.neutral == 1 and [p["text"] for p in result.false_positives] == ["hydronephrosis"]


def test_attributes_and_leaks() -> None:
    gold = {"findings": [{"term": "mass", "sites": ["psoas muscle"], "laterality": "left", "levels": ["L1", "L2"],
                          "measurements": [{"value": 12.1, "unit": "cm"}], "presence": "present"}],
            "diagnoses": [{"term": "sarcoma", "status": "confirmed"}], "differentials": [{"term": "abscess"}],
            "not_findings": ["pathological fracture"]}
    prediction = {"findings": [
        {"text": "mass", "sites": [{"text": "psoas muscle"}], "laterality": "left", "levels": ["L1-L2"],
         "measurements": [{"value": 121, "unit": "mm"}], "presence": "present", "code": None},
        {"text": "pathological fracture", "sites": [], "presence": "present"}],
        "diagnoses": [{"text": "sarcoma", "status": "confirmed"}, {"text": "abscess", "status": "confirmed"}]}
    summary = score(prediction, gold).summary()
    assert summary["site"] == summary["laterality"] == summary["level"] == summary["measurement"] == 1.0
    assert summary["leaks"] == 1 and summary["finding_precision"] == 0.5
    # "abscess" predicted as confirmed: a false diagnosis and a missed differential
    assert summary["diagnosis_f1"] == pytest.approx(0.5)


def test_reference_cases(cases_dir: Path) -> None:
    total = Tally()
    for text_path, gold_path in gold_cases(cases_dir):
        report = caseconv.extract(text_path.read_text(encoding="utf-8"), text_path.stem)
        tally = score(report.to_dict(include_text=False), load_gold(gold_path))
        summary = tally.summary()
        assert summary["leaks"] == 0, (text_path.stem, tally.leaked)
        for name, minimum in THRESHOLDS.items():
            assert summary[name] >= minimum, (text_path.stem, name, summary)
        total.add(tally)
    assert total.summary()["finding_f1"] >= 0.9
