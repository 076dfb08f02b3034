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
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from caseconv.coding.tables import Tables, load_tables, shipped_folder


def _is_acronym(name: str) -> bool:
    """A name written in capitals in a table ("ALL", "GIST", "NF1"): an abbreviation that,
    read without case, would be an English word or another abbreviation."""
    return " " not in name and len(name) <= 6 and name.isupper()


class _Both:
    """Two phrase matchers as one: names matched without case, and acronyms as written."""

    def __init__(self, *matchers: Any) -> None:
        self.matchers = matchers

    def __call__(self, doc: Any) -> list[tuple[int, int, int]]:
        return sorted(m for matcher in self.matchers for m in matcher(doc))


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
    #: medspaCy's ConText component, run by `apply_context` on the sentences that hold targets only.
    context: Any = None


def _section_rules() -> list[Any]:
    from medspacy.section_detection import SectionRule

    with (shipped_folder() / "sections.json").open(encoding="utf-8") as handle:
        data = json.load(handle)
    rules = []
    for row in data["section_rules"]:
        words = [{"LOWER": w.lower()} for w in row["literal"].replace("-", " - ").split()]
        rules.append(SectionRule(row["literal"], row["category"], pattern=[*words, {"ORTH": ":"}]))
        rules.append(SectionRule(row["literal"], row["category"],
                                 pattern=[*words, {"IS_SPACE": True}]))
    return rules


def _phrases(pattern: list[dict[str, Any]], limit: int = 2000) -> list[str] | None:
    """The phrases a token pattern of LOWER / LOWER IN / optional tokens matches, or None."""
    phrases = [""]
    for token in pattern:
        if set(token) - {"LOWER", "OP"} or token.get("OP", "?") != "?":
            return None
        value = token["LOWER"]
        options = value["IN"] if isinstance(value, dict) and set(value) == {"IN"} else [value]
        if not all(isinstance(o, str) for o in options):
            return None
        if "OP" in token:
            options = [*options, ""]
        phrases = [f"{p} {o}".strip() for p in phrases for o in options]
        if len(phrases) > limit:
            return None
    return sorted({p for p in phrases if p})


def _as_literals(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A rule's token pattern spelled out as literal phrases: spaCy's PhraseMatcher costs a
    fraction of its Matcher per token, and ConText runs over every sentence with a finding."""
    phrases = _phrases(row["pattern"]) if row.get("pattern") else None
    if phrases is None:
        return [row]
    return [{**{k: v for k, v in row.items() if k != "pattern"}, "literal": phrase} for phrase in phrases]


def _context_rules(defaults_path: str) -> list[Any]:
    """medspaCy's English rules, less those that misread radiology ("free" in "free air"), plus ours."""
    from medspacy.context import ConTextRule

    with (shipped_folder() / "context_rules.json").open(encoding="utf-8") as handle:
        data = json.load(handle)
    with open(defaults_path, encoding="utf-8") as handle:
        defaults = json.load(handle)["context_rules"]
    removed = {literal.lower() for literal in data.get("remove_default_literals", [])}
    rows = [r for r in defaults if r["literal"].lower() not in removed] + data["context_rules"]
    return [ConTextRule.from_dict(literal) for row in rows for literal in _as_literals(row)]


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
    # matches go to a span group and become entities in one step: medspaCy's "ents" mode adds
    # them one at a time, and its pruning of overlaps pops from the head of a list, both
    # quadratic in the number of matches; `caseconv_set_ents` keeps the longest instead
    matcher = nlp.add_pipe("medspacy_target_matcher", config={"result_type": "group", "prune": False})
    acronyms = nlp.add_pipe("caseconv_acronyms")
    ignored = set(parse_rules()["ignored_heads"])
    for kind, label in (("findings", "FINDING"), ("symptoms", "SYMPTOM")):
        rules = []
        for name, concept in tables.names(kind).items():
            if concept.term in ignored:
                continue
            if _is_acronym(name):  # "ALL" is a leukaemia, "all" a word: capitals are matched as written
                acronyms.add(name, TargetRule(name, label, attributes=None, metadata={"concept": concept.term}))
                continue
            for variant in _plurals(name.lower()):
                rules.append(TargetRule(variant, label, attributes=None, metadata={"concept": concept.term}))
        matcher.add(rules)
    nlp.add_pipe("caseconv_set_ents")
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    context.add(_context_rules(context.DEFAULT_RULES_FILEPATH))
    nlp.remove_pipe("medspacy_context")
    sectionizer = nlp.add_pipe("medspacy_sectionizer", config={"rules": None, "require_start_line": True})
    sectionizer.add(_section_rules())

    def phrase_matcher(kind: str) -> Any:
        """Matches every name of ``kind``; the match id is the concept's term (a modality's
        is its DICOM Modality value, the code of CID 29)."""
        phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        for name, concept in tables.names(kind).items():
            label = concept.term
            if kind == "modalities":
                if concept.code is None or concept.code.scheme != "DCM":
                    continue
                label = concept.code.value
            elif _is_acronym(name):
                exact.add(label, [nlp.make_doc(name), nlp.make_doc(name + "s")])
                continue
            for variant in _plurals(name.lower()):
                phrases.add(label, [nlp.make_doc(variant)])
        return _Both(phrases, exact)

    vocabulary = Vocabulary(phrase_matcher("anatomy"), phrase_matcher("modalities"),
                            phrase_matcher("diagnoses"), tables, context)
    return nlp, vocabulary


#: A field strength closing a sentence, which the tokenizer keeps with its full stop: "3 T.", "1.5T.".
_FIELD_STRENGTH = re.compile(r"(?:\d+(?:\.\d+)?)?T\.")

#: Tokens of the largest piece of a document ConText sees at once.
_CONTEXT_PIECE = 120
_CONTEXT_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def _windows(doc: Any, start: int, end: int, ents: Any) -> list[tuple[int, int]]:
    """A sentence cut into pieces of at most `_CONTEXT_PIECE` tokens, after a comma or
    semicolon where there is one, never through an entity.

    A real sentence is shorter and stays whole; a run-on "sentence" of a megabyte (a list
    with no full stop) would make ConText pair every cue with every finding in it.
    """
    pieces = []
    while end - start > _CONTEXT_PIECE:
        cut = start + _CONTEXT_PIECE
        for index in range(cut, start + _CONTEXT_PIECE // 2, -1):
            if doc[index - 1].text in {",", ";", ":"}:
                cut = index
                break
        for ent in ents.between(max(start, cut - 20), cut):
            if ent.end > cut:  # an entity across the cut: cut before it, or after it if it opens the piece
                cut = ent.start if ent.start > start else ent.end
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def apply_context(doc: Any, context: Any, skip: Callable[[Any], bool] = lambda sentence: False) -> None:
    """Run ConText on the runs of sentences that hold a target, and copy its verdicts to ``doc``.

    ConText's matcher costs the same for every token; most of a report's tokens are in
    sentences with no finding, so this keeps hostile input (a megabyte of "Fig Fig ...")
    from costing seconds per megabyte. Sentences ``skip`` names (a general discussion) are
    not read at all.
    """
    from spacy.tokens import Doc, Span

    from caseconv.parse.index import ByStart, sentences

    by_sentence = sentences(doc)
    runs: list[list[Any]] = []
    ents_by_sentence: dict[int, list[Any]] = {}
    for ent in doc.ents:
        ents_by_sentence.setdefault(by_sentence.of(ent.start).start, []).append(ent)
    ents = ByStart(list(doc.ents), lambda e: e.start)
    previous_end = None
    for sentence in by_sentence.spans:
        if sentence.start not in ents_by_sentence or skip(sentence):
            previous_end = None
            continue
        # ConText pairs every modifier with every target of its document: keep the pieces small
        if previous_end == sentence.start and runs and sentence.end - runs[-1][0] <= _CONTEXT_PIECE:
            runs[-1][1] = sentence.end
        else:
            runs.extend([a, b] for a, b in _windows(doc, sentence.start, sentence.end, ents))
        previous_end = sentence.end
    for start, end in runs:
        # a fresh small Doc per piece (Span.as_doc reads all of the document's entities each time)
        tokens = doc[start:end]
        sub = Doc(doc.vocab, words=[t.text for t in tokens], spaces=[bool(t.whitespace_) for t in tokens],
                  sent_starts=[i == 0 or bool(t.is_sent_start) for i, t in enumerate(tokens)])
        originals = ents.between(start, end)
        sub.set_ents([Span(sub, e.start - start, e.end - start, label=e.label_) for e in originals])
        context(sub)
        for original, ent in zip(originals, sub.ents):
            verdicts = ent._  # one extension accessor per entity, not one per flag
            flags = [flag for flag in _CONTEXT_FLAGS if getattr(verdicts, flag)]
            if flags:
                extension = original._
                for flag in flags:
                    setattr(extension, flag, True)


class _Acronyms:
    """Finding and symptom names written in capitals ("AAA", "SAH"), matched as written, with
    the target rule medspaCy's matcher gives its own matches: its token patterns would test
    every acronym at every token."""

    def __init__(self, nlp: Any) -> None:
        from spacy.matcher import PhraseMatcher

        self.make_doc = nlp.make_doc
        self.matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.rules: dict[str, Any] = {}

    def add(self, name: str, rule: Any) -> None:
        self.rules[name] = rule
        self.matcher.add(name, [self.make_doc(name), self.make_doc(name + "s")])

    def __call__(self, doc: Any) -> Any:
        from spacy.tokens import Span

        found = []
        for match_id, start, end in self.matcher(doc):
            rule = self.rules[doc.vocab.strings[match_id]]
            span = Span(doc, start, end, label=rule.category)
            span._.target_rule = rule
            found.append(span)
        if found:
            group = list(doc.spans.get("medspacy_spans", []))
            doc.spans["medspacy_spans"] = group + found
        return doc


def _register() -> None:
    from spacy.language import Language
    from spacy.util import filter_spans

    if "caseconv_line_breaks" in Language.factories:
        return

    @Language.component("caseconv_set_ents")
    def set_ents(doc: Any) -> Any:
        """The target matcher's spans as entities, the longest of overlapping ones."""
        doc.set_ents(filter_spans(list(doc.spans.get("medspacy_spans", []))))
        return doc

    @Language.factory("caseconv_acronyms")
    def acronyms(nlp: Any, name: str) -> _Acronyms:
        return _Acronyms(nlp)

    @Language.component("caseconv_line_breaks")
    def line_breaks(doc: Any) -> Any:
        """A line break ends a sentence: headings, list items and captions stand alone.

        Set through an array in one step: ``Token.is_sent_start = True`` checks the whole
        document each time, which is quadratic in long texts.
        """
        from spacy.attrs import SENT_START

        starts = doc.to_array([SENT_START])
        for token in doc[:-1]:
            if "\n" in token.text:
                starts[token.i + 1] = 1
            elif _FIELD_STRENGTH.fullmatch(token.text) and (token.text != "T." or doc[token.i - 1].like_num) \
                    and doc[token.i + 1].text[:1].isupper():
                starts[token.i + 1] = 1  # "performed at 3 T. On FLAIR images ...": the tesla ends a sentence
        doc.from_array([SENT_START], starts)
        return doc


_register()
