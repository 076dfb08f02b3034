"""The medspaCy pipeline, built once per process from the tables in ``mappings/``.

- tokenizer: medspaCy's clinical tokenizer;
- sentence boundaries: spaCy's rule-based ``sentencizer`` plus every line break (PyRuSH is
  ~20x slower on these texts and floods stderr);
- ``medspacy_target_matcher``: finding heads (findings table) and symptoms (symptoms
  table), each name with its plural;
- ``medspacy_context``: medspaCy's English ConText rules (less the few that misread
  radiology) plus the radiology rules in ``mappings/context_rules.json``;
- ``medspacy_sectionizer``: the headings in ``mappings/sections.json``, which count only
  at the start of a line and followed by a colon or the end of the line.

Anatomy, modalities and diagnoses are found with spaCy's ``PhraseMatcher`` over the same
tables (`Vocabulary`), since they are attributes of findings rather than ConText targets.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from caseconv.coding.tables import Tables, load_tables, shipped_folder

#: Sentinel category of a ConText rule that marks a differential-diagnosis list.
DIFFERENTIAL = "DIFFERENTIAL"


def _plurals(name: str) -> set[str]:
    """The name and a plural of its last word, as a report may write it."""
    words = name.split(" ")
    last = words[-1]
    if last.endswith(("s", "x", "ch", "sh")) and not last.endswith("ss"):
        plural = last + "es" if last.endswith(("x", "ch", "sh")) else last
    elif last.endswith("ss"):
        plural = last + "es"
    elif last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    elif last.endswith("is"):
        plural = last[:-2] + "es"
    else:
        plural = last + "s"
    return {name, " ".join([*words[:-1], plural])}


@lru_cache(maxsize=1)
def parse_rules() -> dict[str, Any]:
    """The cue lists of ``mappings/parse_rules.yaml``."""
    with (shipped_folder() / "parse_rules.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _silence_pyrush() -> None:
    try:
        from loguru import logger

        logger.remove()
    except ImportError:  # pragma: no cover - loguru comes with PyRuSH
        pass
    logging.getLogger("PyRuSH").setLevel(logging.WARNING)


@dataclass
class Vocabulary:
    """Phrase matchers for anatomy, modalities and diagnoses, with the concept of each match."""

    anatomy: Any
    modalities: Any
    diagnoses: Any
    tables: Tables


def _section_rules() -> list[Any]:
    from medspacy.section_detection import SectionRule

    with (shipped_folder() / "sections.json").open(encoding="utf-8") as handle:
        data = json.load(handle)
    rules = []
    for row in data["section_rules"]:
        words = [{"LOWER": w.lower()} for w in row["literal"].replace("-", " - ").split()]
        rules.append(SectionRule(row["literal"], row["category"], pattern=[*words, {"ORTH": ":"}]))
        rules.append(SectionRule(row["literal"], row["category"],
                                 pattern=[*words, {"IS_SPACE": True, "TEXT": {"REGEX": "\n"}}]))
    return rules


def _context_rules(defaults_path: str) -> list[Any]:
    """medspaCy's English rules, less those that misread radiology ("free" in "free air"), plus ours."""
    from medspacy.context import ConTextRule

    with (shipped_folder() / "context_rules.json").open(encoding="utf-8") as handle:
        data = json.load(handle)
    removed = {literal.lower() for literal in data.get("remove_default_literals", [])}
    defaults = [r for r in ConTextRule.from_json(defaults_path) if r.literal.lower() not in removed]
    return defaults + [ConTextRule.from_dict(row) for row in data["context_rules"]]


@lru_cache(maxsize=4)
def pipeline(extra: tuple[str, ...] = ()) -> tuple[Any, Vocabulary]:
    """The spaCy pipeline and phrase vocabulary (built once per process and table set)."""
    _silence_pyrush()
    import medspacy
    from medspacy.ner import TargetRule
    from spacy.matcher import PhraseMatcher

    tables = load_tables(extra)
    nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer"])
    # spaCy's 1,000,000-character guard protects its parser and NER, which this pipeline does not
    # use; case files are accepted up to 5 MB (the CLI's --max-bytes), so allow that and a margin.
    nlp.max_length = 12_000_000
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("caseconv_line_breaks")
    matcher = nlp.add_pipe("medspacy_target_matcher")
    ignored = set(parse_rules()["ignored_heads"])
    for kind, label in (("findings", "FINDING"), ("symptoms", "SYMPTOM")):
        rules = []
        for name, concept in tables.names(kind).items():
            if concept.term in ignored:
                continue
            for variant in _plurals(name.lower()):
                rules.append(TargetRule(variant, label, attributes=None, metadata={"concept": concept.term}))
        matcher.add(rules)
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    context.add(_context_rules(context.DEFAULT_RULES_FILEPATH))
    sectionizer = nlp.add_pipe("medspacy_sectionizer", config={"rules": None, "require_start_line": True})
    sectionizer.add(_section_rules())

    def phrase_matcher(kind: str) -> Any:
        """Matches every name of ``kind``; the match id is the concept's term (a modality's
        is its DICOM Modality value, the code of CID 29)."""
        phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        for name, concept in tables.names(kind).items():
            label = concept.term
            if kind == "modalities":
                if concept.code is None or concept.code.scheme != "DCM":
                    continue
                label = concept.code.value
            for variant in _plurals(name.lower()):
                phrases.add(label, [nlp.make_doc(variant)])
        return phrases

    vocabulary = Vocabulary(phrase_matcher("anatomy"), phrase_matcher("modalities"),
                            phrase_matcher("diagnoses"), tables)
    return nlp, vocabulary


def _register() -> None:
    from spacy.language import Language

    if "caseconv_line_breaks" in Language.factories:
        return

    @Language.component("caseconv_line_breaks")
    def line_breaks(doc: Any) -> Any:
        """A line break ends a sentence: headings, list items and captions stand alone."""
        for token in doc[:-1]:
            if "\n" in token.text:
                doc[token.i + 1].is_sent_start = True
        return doc


_register()
