"""Imaging findings: what the report says about this patient's images.

Per sentence, each finding head that medspaCy's target matcher found becomes a mention:
its name is widened to the words that qualify it ("fairly large heterogeneous soft tissue
mass"), to the site a process acts on ("compression of exiting nerve root") or to the
subject of a predicate ("appendix ... dilated"). Anatomic sites, laterality, spinal levels
and measurements in the sentence attach to the nearest finding before them. Presence comes
from ConText. Across the report, mentions of one finding (the narrative and the captions
that repeat it) are merged, and findings that only qualify another one ("heterogeneous
enhancement of the mass", "surrounding edema") take that finding's sites.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from caseconv.coding.tables import Tables
from caseconv.parse import measure
from caseconv.parse.blocks import Block
from caseconv.parse.index import ByStart
from caseconv.parse.nlp import Vocabulary, parse_rules
from caseconv.parse.text import CleanText

_STOP = frozenset("""a an the this these that those its their his her our some any no not nor other another of in
into at on with within from to for by over under along as about around near there is are was were be been being
has have had which who shows show showed showing revealed reveals demonstrated demonstrates demonstrating noted
seen identified measuring measures measured and or but also again now then than both each either all
evidence amount due after before while where when if it they he she we without causing involving showing extending
measuring compressing demonstrating containing including producing resulting suggesting representing indicating
revealing displacing encasing abutting mm cm ml cc
causes cause caused produces produced results resulted leads led contains contained involves involved extends
confirmed confirms confirming depicted depicts documented detected
extended displaces displaced compresses compressed suggests suggested represents represented indicates
possible possibly probable probably likely unlikely questionable rule out suggest may might could can cannot would
should must will obscure obscures obscured mimic mimics mimicking""".split())
_COPULA = frozenset("is are was were be been appears appear appeared remains remain became become looks".split())
_ADVERB = re.compile(r"(?:\w+ly|very|quite|somewhat|slightly|also|now|again|still|not|no longer)$", re.IGNORECASE)
_LATERALITY = re.compile(r"\b(left|right|bilateral|bilaterally|both)(?:[- ]sided)?\b", re.IGNORECASE)
_BODY_OF_LEVEL = re.compile(r"\bbod(?:y|ies) of (?:the )?(?=[CTLS]\d)", re.IGNORECASE)
_THESE_LEVELS = re.compile(r"\b(?:these|those|the same|both) levels?\b", re.IGNORECASE)
_COLON_NEXT = re.compile(r"\s*:")
_ADJECTIVE = re.compile(r"(?:ic|ous|al|ed|ive|ar|ent|ant|oid|ible|able|ful|ing|-\w+)$", re.IGNORECASE)
#: An adjective a coordination joins ("heterogeneous and enhancing"): "-ent" nouns such as
#: "component" or "segment" are left out.
_COORDINATED = re.compile(r"(?:ic|ous|al|ed|ive|ar|oid|ible|able|ful|ing)$", re.IGNORECASE)
#: A normal statement about the finding itself ("bowel gas pattern unremarkable", "X is normal");
#: not one about the next thing a preposition brings in ("regurgitation with preserved ejection fraction").
_NORMAL = re.compile(r"^\s*(?:(?!(?:with|and|but|or|of|in|at|on|to|from|by|for|without|while|whereas)\b)\w+\s+){0,3}?"
                     r"(?:(?:is|are|was|were|appears?|remains?)\s+)?(?:unremarkable|normal|"
                     r"within normal limits|preserved|maintained|intact)\b", re.IGNORECASE)
_COMPARED_TO = re.compile(r"\b(?:iso|hypo|hyper)(?:intense|dense|attenuating|echoic)\s+(?:relative\s+)?"
                          r"(?:to|compared to|compared with)\s+(?:the\s+|normal\s+|adjacent\s+)*$", re.IGNORECASE)
#: Organs with a neck or a head of their own: near them, "the neck" is theirs.
_HAS_NECK_OR_HEAD = re.compile(r"\b(?:gall\s?bladder|pancrea\w*|femur|femoral|humer\w*|bladder|rib|mandib\w*|"
                               r"talus|radius|radial|fibula\w*|metatarsal|metacarpal|tooth|teeth|caudate)\b",
                               re.IGNORECASE)
#: "on the left, there is ...": the side opens the clause that names the finding.
_THERE_IS = re.compile(r"(?:\s+side)?\s*,?\s*(?:there\s+(?:is|are|was|were)|is|are|was|were)\b", re.IGNORECASE)
#: what may follow "on the left" when it names a finding's side: the end of a clause or "side".
_ON_THE_SIDE = re.compile(r"(?:\s+side)?\s*(?:[,.;)]|$|\s+(?:and|with|but)\b)", re.IGNORECASE)
#: An MR weighting between two signal words ("T1 hypointense, T2 hyperintense mass").
_WEIGHTING = re.compile(r"T[12]\*?|FLAIR|STIR|DWI|ADC|PD", re.IGNORECASE)
_OF_FOLLOWING = re.compile(r"^\s*(?:of|of the)\s", re.IGNORECASE)
_INTERPRETATION = re.compile(r"\b(?:suggestive of|suggesting|consistent with|compatible with|representing|"
                             r"likely|probably|in keeping with|concerning for|suspicious for)\b")
#: More findings or sites than this in one sentence is not a report: the rest is not read.
MAX_PER_SENTENCE = 100
#: Tokens of the longest table name (a bound for looking back from a position).
_LONGEST_NAME = 12
_LINK_WORDS = frozenset({"with", "causing", "resulting", "producing", "and"})


@dataclass
class Mention:
    """One mention of a finding in one sentence, before merging."""

    key: str
    start: int
    end: int
    text: str
    presence: str
    block: Block
    sites: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)
    laterality: set[str] = field(default_factory=set)
    levels: list[tuple[str, int, int]] = field(default_factory=list)
    numbers: list[measure.Number] = field(default_factory=list)
    ref_key: str | None = None
    ref_mention: Mention | None = None
    #: the qualified finding is named ("enhancement of the mass"): its sites apply, its side is its own.
    named_ref: bool = False
    dependent: bool = False
    labels: list[str] = field(default_factory=list)
    #: sites named inside the mention itself ("left psoas fluid collection", "into the spinal canal").
    own_sites: set[str] = field(default_factory=set)
    #: sites taken from the region an imaging procedure names ("CT of the abdomen").
    region_sites: set[str] = field(default_factory=set)
    token_start: int = 0
    token_end: int = 0
    #: the character where the mention's sentence starts.
    sentence: int = -1
    #: figures its sentence points to: ("1", "b") for "(Fig. 1b)", ("2", "") for "(Figure 2)".
    figure_refs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.block.label if self.block.kind == "caption" and self.block.label else "narrative"

    @property
    def restates(self) -> bool:
        """Captions and impressions restate the findings in fewer words."""
        return self.block.kind in {"caption", "impression"}


def _lateral_value(word: str) -> str:
    word = word.lower()
    return "bilateral" if word.startswith(("bilateral", "both")) else word


def combine_laterality(values: set[str]) -> str | None:
    """Left and right together, or bilateral anywhere, make bilateral."""
    if not values:
        return None
    if "bilateral" in values or {"left", "right"} <= values:
        return "bilateral"
    return next(iter(values))


@dataclass
class _Anatomy:
    start: int
    end: int
    term: str
    laterality: str | None
    token_start: int
    token_end: int
    #: names the region an imaging procedure covers ("abdominal radiographs", "chest CT").
    region: bool = False


@lru_cache(maxsize=16)
def _headed(tables: Tables, heads: tuple[str, ...]) -> frozenset[str]:
    """The finding concepts a rule's heads name: the heads, and every concept named by a head
    after qualifiers ("heterogeneous enhancement", "internal vascularity" behave as "enhancement"
    and "vascularity" do, though a table codes them apart; "bone marrow edema" is no "edema")."""
    qualifiers = {name.lower() for name in tables.names("qualifiers")}
    named = set(heads)
    for concept in tables.concepts("findings"):
        words = concept.term.lower().split()
        for cut in range(1, len(words)):
            if " ".join(words[cut:]) in heads and all(word in qualifiers for word in words[:cut]):
                named.add(concept.term)
    return frozenset(named)


def _clause(semicolons: list[int], position: int) -> int:
    """Which semicolon-separated clause of a sentence a character offset lies in."""
    return bisect_right(semicolons, position)


def _named_pattern(concept: str) -> bool:
    """A sign or an eponymous pattern, whose anatomical words name no site."""
    return concept.endswith(" sign") or concept[:1].isupper()


class SentenceReader:
    """Reads the findings of one sentence (a spaCy span) into mentions."""

    def __init__(self, clean: CleanText, doc: Any, vocabulary: Vocabulary) -> None:
        self.clean = clean
        self.doc = doc
        self.text = clean.text  # the doc's text (spaCy rebuilds doc.text on every access)
        self.vocabulary = vocabulary
        rules = parse_rules()
        self.dependent = _headed(vocabulary.tables, tuple(rules["dependent_heads"]))
        self.process = _headed(vocabulary.tables, tuple(rules["process_heads"]))
        self.unsited = set(rules["unsited_heads"])
        self.findings = ByStart([e for e in doc.ents if e.label_ == "FINDING"], lambda e: e.start)
        self.anatomy = self._anatomy_matches()
        self.sites = ByStart(self.anatomy, lambda a: a.token_start)
        self.inside_anatomy = {(e.start, e.end) for e in self.findings.items
                               for a in self.sites.between(e.start - _LONGEST_NAME, e.start + 1)
                               if e.end <= a.token_end and a.token_end - a.token_start > len(e)}

    def _anatomy_matches(self) -> list[_Anatomy]:
        doc = self.doc
        spans = []
        for match_id, start, end in self.vocabulary.anatomy(doc):
            if start >= 2 and doc[start - 1].text == "-" and not doc[start - 2].whitespace_ \
                    and not doc[start - 1].whitespace_ and doc[start - 2].is_alpha:
                continue  # the last word of a compound ("onion-skin", "soft-tissue") names no structure
            spans.append((start, end, doc.vocab.strings[match_id]))
        spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        chosen: list[tuple[int, int, str]] = []
        last_end = -1
        for start, end, term in spans:
            if start >= last_end:
                chosen.append((start, end, term))
                last_end = end
        tissue = set(parse_rules()["tissue_words"])
        result = []
        for start, end, term in chosen:
            heads = self.findings.between(start - _LONGEST_NAME, start + 1)
            if any(h.start <= start and end <= h.end and (term in tissue or (start, end) == (h.start, h.end)
                                                            or _named_pattern(self._key(h)))
                   for h in heads):  # the cord of a "cord sign", the fingers of "Dawson fingers" are no site
                continue
            span = doc[start:end]
            if term in {"neck", "head"} and _HAS_NECK_OR_HEAD.search(
                    self.text[max(0, span.start_char - 80): span.end_char + 40]):
                continue  # "a gallstone in the neck": the gallbladder's neck, not the body's
            result.append(_Anatomy(span.start_char, span.end_char, term, None, start, end))
        for match in _BODY_OF_LEVEL.finditer(self.text):
            token_start = doc.char_span(match.start(), match.start() + 4, alignment_mode="expand")
            if token_start is not None:
                result.append(_Anatomy(match.start(), match.end(), "vertebral body", None,
                                       token_start.start, token_start.end))
        result.sort(key=lambda a: a.start)
        self._coordinate(result)
        modalities = ByStart([(start, end) for _, start, end in self.vocabulary.modalities(doc)], lambda m: m[0])
        for item in result:
            near = modalities.between(item.token_start - _LONGEST_NAME - 3, item.token_end + 1)
            item.region = any(m_start == item.token_end or m_start <= item.token_start < m_end or
                              (0 <= item.token_start - m_end <= 3 and re.sub(
                                  r"\s*\b(?:left|right|bilateral)\b", "", doc[m_end:item.token_start].text.lower())
                               in {"of", "of the"})
                              for m_start, m_end in near)
        return result

    def _coordinate(self, anatomy: list[_Anatomy]) -> None:
        """'third and lateral ventricles' also names the third ventricle; 'left X and Y': Y is left."""
        text = self.text
        tables = self.vocabulary.tables
        added = []
        ends = {a.end for a in anatomy}
        for item in anatomy:
            before = text[max(0, item.start - 40): item.start]
            lateral = re.search(r"\b(left|right|bilateral|both)(?:[- ]sided)?\s+(?:(?:main|upper|lower|middle|"
                                r"proximal|distal|mid|common|internal|external|anterior|posterior|first|second|"
                                r"third|fourth|fifth)\s+)?$",
                                before, re.IGNORECASE)
            if lateral:
                item.laterality = _lateral_value(lateral.group(1))
                both = re.search(r"\b(left|right)\s+(?:and|or|&)\s+(?:the\s+)?(left|right)\s+\S*\s*$",
                                 before[: lateral.end()], re.IGNORECASE)
                if both and both.group(1).lower() != both.group(2).lower():
                    item.laterality = "bilateral"  # "the right and left main pulmonary arteries"
            own = re.match(r"(left|right)\b", text[item.start: item.end], re.IGNORECASE) or re.search(
                r"\bof\s+(?:the\s+)?(left|right)\b", text[item.start: item.end], re.IGNORECASE)
            if own and not lateral:  # named with its side: "right pulmonary artery", "upper pole of right kidney"
                item.laterality = own.group(1).lower()
                other = re.search(r"\b(left|right)\s+(?:and|or|&)\s+(?:the\s+)?$", before, re.IGNORECASE)
                if other and other.group(1).lower() != item.laterality:
                    item.laterality = "bilateral"
            words = text[item.start: item.end].split()
            coordinated = re.search(r"\b(\w+)\s+(?:and|or|,)\s+(?:(?:both|the)\s+)?$", before, re.IGNORECASE)
            if coordinated and len(words) >= 2:
                candidate = f"{coordinated.group(1)} {words[-1]}"
                concept = tables.lookup("anatomy", candidate)
                if concept is not None and item.start - len(coordinated.group(0)) + len(coordinated.group(1)) \
                        not in ends:
                    begin = item.start - len(coordinated.group(0))
                    span = self.doc.char_span(begin, begin + len(coordinated.group(1)), alignment_mode="expand")
                    if span is not None:
                        added.append(_Anatomy(begin, begin + len(coordinated.group(1)), concept.term,
                                              item.laterality, span.start, span.end))
        for previous, item in zip(anatomy, anatomy[1:]):
            between = text[previous.end: item.start]
            if item.laterality is None and previous.laterality and re.fullmatch(r"\s*(?:and|,)\s*", between):
                item.laterality = previous.laterality
        anatomy.extend(added)
        anatomy.sort(key=lambda a: a.start)

    # -- mentions -------------------------------------------------------------------------
    def read(self, sentence: Any, block: Block) -> list[Mention]:
        """The finding mentions of one sentence, with their attributes attached."""
        doc = self.doc
        # a sentence of a report names a few findings; hostile text can name thousands
        ents = [e for e in self.findings.between(sentence.start, sentence.end)
                if (e.start, e.end) not in self.inside_anatomy][:MAX_PER_SENTENCE]
        groups: list[list[Any]] = []
        for ent in ents:
            modifier = groups[-1][-1] if groups else None
            gap = doc[modifier.end: ent.start] if modifier is not None else None
            if modifier is not None and ent.start - modifier.end <= 3 and all(
                    t.text in {"-", ","} or (t.is_alpha and t.text.lower() not in _STOP) or _WEIGHTING.fullmatch(t.text)
                    for t in gap) \
                    and (_ADJECTIVE.search(modifier.text) or self._key(modifier) in self.dependent) \
                    and not ent.text.lower().endswith(("ing", "ed")):
                groups[-1].append(ent)
            else:
                groups.append([ent])
        mentions: list[Mention] = []
        for group in groups:
            mention = self._mention(group, sentence, block)
            if mention is not None:
                mentions.append(mention)
        if not mentions:
            return []
        mentions = [m for m in mentions if not self._said_normal(m, sentence)]
        mentions = [m for i, m in enumerate(mentions) if not self._negated_place(m, mentions[:i])]
        consumed = {id(m) for q in mentions for m in mentions if q.dependent and m is not q
                    and 0 <= m.token_start - q.token_end <= 3 and m.key == q.ref_key}
        mentions = [m for m in mentions if id(m) not in consumed]
        if not mentions:  # every finding named was said to be normal
            return []
        for mention in mentions:
            mention.sentence = sentence.start_char
        anatomy = self.sites.between(sentence.start, sentence.end)[:MAX_PER_SENTENCE]
        self._attach(mentions, anatomy, sentence)
        self._link(mentions, sentence)
        return mentions

    def _negated_place(self, mention: Mention, earlier: list[Mention]) -> bool:
        """"No calcification was identified within the mass": the mass is where calcification is
        absent, a finding named before; it is not itself absent. Nor are "none of the lesions"."""
        if mention.presence != "absent" or mention.token_start < 2:
            return False
        determiner, preposition = (self.doc[mention.token_start - i].text.lower() for i in (1, 2))
        if determiner not in {"the", "this", "that", "these", "those"}:
            return False
        if preposition == "of" and mention.token_start >= 3 and self.doc[mention.token_start - 3].lower_ == "none":
            return True  # "none of the lesions showed restricted diffusion": the lesions are there
        return bool(earlier) and preposition in {
            "within", "in", "inside", "of", "around", "into", "from", "at", "throughout", "along"}

    def _said_normal(self, mention: Mention, sentence: Any) -> bool:
        """'Bowel gas pattern unremarkable', 'normal flow': a normal statement, not a finding."""
        rest = self.doc[mention.token_end: sentence.end].text
        clause = re.split(r"[,;.]", rest, maxsplit=1)[0]
        said_before = re.match(r"(?:normal|unremarkable)\b", mention.text, re.IGNORECASE)  # "showed normal flow"
        return bool(_NORMAL.search(clause) or said_before) and mention.presence == "present"

    @staticmethod
    def _key(ent: Any) -> str:
        rule = ent._.target_rule
        return rule.metadata["concept"] if rule is not None and rule.metadata else ent.text.lower()

    def _mention(self, group: list[Any], sentence: Any, block: Block) -> Mention | None:
        doc = self.doc
        head = group[-1]
        rule = head._.target_rule
        key = rule.metadata["concept"] if rule is not None and rule.metadata else head.text.lower()
        presence = "present"
        if any(e._.is_negated for e in group):
            presence = "absent"
        elif any(e._.is_uncertain or e._.is_hypothetical for e in group):
            presence = "uncertain"
        start_token = group[0].start
        end_token = head.end
        head_text = head.text.lower()
        predicate = self._predicate(head, sentence) if len(group) == 1 else None
        if predicate is not None:
            subject_start, copula_start, copula_end = predicate
            subject = doc[subject_start:copula_start].text.strip(" ,")
            rest = doc[copula_end:end_token].text.strip()
            start_char = doc[subject_start].idx
            end_char = doc[end_token - 1].idx + len(doc[end_token - 1].text)
            return Mention(key, start_char, end_char, f"{subject} {rest}".strip(), presence, block,
                           dependent=key in self.dependent, token_start=subject_start, token_end=end_token)
        # widen left over the words that qualify the head (not for a verb: "mass extending into")
        verb = self._is_verb(head, key, sentence)
        index = start_token - 1
        taken = 0
        while index >= sentence.start and taken < 7 and not verb:
            token = doc[index]
            word = token.text.lower()
            if token.is_space or "\n" in token.text:
                break
            if any(e.start <= index < e.end for e in self.findings.between(index - _LONGEST_NAME, index + 1)):
                break  # another finding's name ("wall thickening and pericholecystic fluid")
            previous = doc[index - 1] if index - 1 >= sentence.start else None
            coordinated = word in {"and", "or", "and/or"} and _ADJECTIVE.search(doc[index + 1].text) is not None
            joins = word == "-" or (word == "," and _ADJECTIVE.search(previous.text) if previous else False) or (
                coordinated and previous is not None and _COORDINATED.search(previous.text))
            if previous is not None and previous.is_alpha and previous.text.lower() not in _STOP and joins:
                index -= 1
                continue
            if not (token.is_alpha or re.fullmatch(r"[a-z]+(?:-[a-z]+)+", word) or _WEIGHTING.fullmatch(word)) \
                    or word in _STOP:
                break
            start_token = index
            index -= 1
            taken += 1
        ref_key = None
        complement = None
        if key in self.process or key in self.dependent or key == "extension":
            complement = self._complement(end_token, sentence, key, direct=verb)
            if complement is None and key == "extension":
                return None
            if complement is not None:
                new_end, ref_key = complement
                if new_end is not None:
                    end_token = new_end
        if complement is None and not verb and head_text.endswith(("ed", "ous")):
            # an attributive adjective names what it qualifies: "enlarged para-aortic lymph nodes"
            following = next((a for a in self.sites.between(end_token, end_token + 4)
                              if end_token <= a.token_start <= end_token + 3
                              and a.token_end <= sentence.end and all(
                                  re.fullmatch(r"[a-z]+(?:-[a-z]+)*|-", t.text.lower())
                                  for t in doc[end_token:a.token_start])), None)
            if following is not None:
                end_token = following.token_end
        span = doc[start_token:end_token]
        text = span.text
        if key == "extension" and head_text != "extension":
            into = next((t.i for t in span if t.text.lower() == "into"), None)
            if into is not None:
                text = "extension " + doc[into:end_token].text
        elif verb and end_token > head.end:
            # "the mass compresses the nerve root" names the finding "compression of the nerve root"
            site = next(iter(self.sites.between(head.end, end_token)), None)
            if site is not None:
                text = f"{key} of {doc[head.end:end_token].text}" if doc[head.end].text.lower() in {
                    "the", "a", "an"} else f"{key} of {doc[site.token_start:end_token].text}"
        return Mention(key, span.start_char, span.end_char, text, presence, block, ref_key=ref_key,
                       dependent=key in self.dependent, token_start=start_token, token_end=end_token,
                       named_ref=ref_key is not None)

    def _predicate(self, head: Any, sentence: Any) -> tuple[int, int, int] | None:
        """For 'X is (markedly) dilated': (subject start, copula start, copula end) tokens."""
        doc = self.doc
        if not head.text.lower().endswith(("ed", "ous", "ic", "ing")):
            return None
        index = head.start - 1
        while index >= sentence.start and _ADVERB.match(doc[index].text):
            index -= 1
        if index >= sentence.start and doc[index].text.lower() == "and":
            index -= 1
            while index >= sentence.start and doc[index].is_alpha and doc[index].text.lower() not in _COPULA:
                index -= 1
        if index < sentence.start or doc[index].text.lower() not in _COPULA:
            return None
        copula = index
        clause_start = sentence.start
        for i in range(sentence.start, copula):
            if doc[i].text in {",", ";", ":"} and doc[i + 1].text.lower() != "and":
                clause_start = i + 1
        subject = next((a.token_start for a in self.sites.between(clause_start, copula) if a.token_end <= copula),
                       None)
        if subject is None:
            return None
        while subject - 1 >= sentence.start and doc[subject - 1].is_alpha and \
                doc[subject - 1].text.lower() not in _STOP:
            subject -= 1
        end = head.start
        while end - 1 > copula and _ADVERB.match(doc[end - 1].text):
            end -= 1
        return subject, copula, end if doc[copula + 1].text.lower() != "and" else copula + 1

    def _is_verb(self, head: Any, key: str, sentence: Any) -> bool:
        """'the mass extends', 'which compresses', 'ganglia extending': a process said as a verb
        after its subject (not 'foraminal narrowing', a noun)."""
        if key not in self.process | {"extension"} or not head.text.lower().endswith(("ing", "ed", "es", "ds", "ss")):
            return False
        if head.start == sentence.start:
            return False
        following = self.doc[head.end] if head.end < sentence.end else None
        if following is not None and (following.text.lower() in {"the", "a", "an", "into", "over", "upon"}
                                      or self.sites.at(head.end)):
            return True
        previous = self.doc[head.start - 1]
        subject_words = {"which", "that", "it", "and", "also", "further", "further,", "then"}
        return previous.text.lower() in subject_words or previous.ent_type_ == "FINDING"

    def _complement(self, end_token: int, sentence: Any, key: str,
                    direct: bool = False) -> tuple[int | None, str | None] | None:
        """Widen a process head over 'of/into <site>' (or a verb's object); or name the finding it acts on."""
        doc = self.doc
        if end_token >= sentence.end:
            return None
        window_end = min(sentence.end, end_token + 9)
        words = [t.text.lower() for t in doc[end_token:window_end]]
        preps = {"extension": ("into",)}.get(key, ("of", "into", "within", "on", "in"))
        if direct and key != "extension":
            preps = (*preps, "the", "a", "an", words[0] if words else "")
        if not words or (words[0] not in preps and not (key == "extension" and "into" in words[:5])):
            return None
        if key == "extension" and "into" not in words[:5]:
            return None
        for anatomy in self.sites.between(end_token + 1, end_token + 9):
            if anatomy.token_end <= sentence.end:
                between = doc[end_token:anatomy.token_start]
                if any(t.text in {",", ";", "."} for t in between):
                    break
                heads_between = any(e.end <= anatomy.token_start
                                    for e in self.findings.between(end_token, anatomy.token_start))
                if heads_between and key != "extension":
                    break
                chain_end = anatomy.token_end
                for following in self.sites.between(chain_end, chain_end + 40):
                    gap = doc[chain_end:following.token_start]
                    if following.token_start >= chain_end and following.token_end <= sentence.end and \
                            following.token_start - chain_end <= 3 and all(
                            t.text.lower() in {"and", "or", ",", "the", "both", "left", "right"} for t in gap):
                        chain_end = following.token_end
                return chain_end, None
        for ent in self.findings.between(end_token + 1, end_token + 4):
            if ent.label_ == "FINDING":
                rule = ent._.target_rule
                return None, rule.metadata["concept"] if rule is not None and rule.metadata else None
        if words[0] == "on" and len(words) > 1:
            sequence_end = end_token + 1
            while sequence_end < window_end and doc[sequence_end].text.lower() in {"this", "the", "t1", "t2",
                                                                                  "t2*", "flair", "image", "*"}:
                sequence_end += 1
            if sequence_end > end_token + 1:
                return sequence_end, None
        return None

    # -- attributes -----------------------------------------------------------------------
    def _nearest(self, mentions: list[Mention], token: int) -> Mention:
        inside = [m for m in mentions if m.token_start <= token < m.token_end]
        if inside:
            return inside[0]
        before = [m for m in mentions if m.token_end <= token]
        if before:
            return before[-1]
        after = [m for m in mentions if m.token_start >= token]
        return after[0] if after else mentions[-1]

    def _attach(self, mentions: list[Mention], anatomy: list[_Anatomy], sentence: Any) -> None:
        doc = self.doc
        semicolons = [sentence.start_char + m.start() for m in re.finditer(";", sentence.text)]
        regions = [a for a in anatomy if a.region]
        for item in anatomy:
            if item.region or _COMPARED_TO.search(self.text[max(0, item.start - 40): item.start]):
                continue  # "isointense to gray matter": a reference tissue, not where the finding is
            owners = [m for m in mentions if m.token_start <= item.token_start < m.token_end]
            for owner in owners:
                owner.own_sites.add(item.term)
            if not owners:
                # a semicolon ends a clause: "the left kidney showed reduced enhancement; the right
                # kidney enhanced normally" gives the enhancement no right kidney
                clause = [m for m in mentions if _clause(semicolons, m.start) == _clause(semicolons, item.start)]
                owners = [self._nearest(clause, item.token_start)] if clause else []
                owners = [o for o in owners if o.key not in self.unsited]
            for owner in owners:
                owner.sites.setdefault(item.term, (item.start, item.end, item.laterality))
                if item.laterality:
                    owner.laterality.add(item.laterality)
        for mention in mentions:
            if not mention.sites and mention.key not in self.unsited and not mention.dependent:
                for item in regions:
                    mention.sites.setdefault(item.term, (item.start, item.end, item.laterality))
                    mention.region_sites.add(item.term)
        text = sentence.text
        base = sentence.start_char
        for match in _LATERALITY.finditer(text):
            position = base + match.start()
            owner = next((m for m in mentions if m.start <= position < m.end), None)
            if owner is None and _ON_THE_SIDE.match(text, match.end()) and \
                    re.search(r"(?<!more )(?<!greater )(?<!larger )(?<!worse )\bon the\s*$", text[: match.start()],
                              re.IGNORECASE):
                # "mild hydronephrosis on the left": the side is named after the finding
                owner = next((m for m in reversed(mentions) if m.end <= position and not m.laterality), None)
            elif owner is None and _THERE_IS.match(text, match.end()) and \
                    re.search(r"\bon the\s*$", text[: match.start()], re.IGNORECASE):
                # "on the left there is moderate hydronephrosis": named before it
                owner = next((m for m in mentions if m.start >= position and not m.laterality), None)
            if owner is not None and not any(a.start <= position < a.end for a in anatomy):
                follows = any(0 <= a.start - (base + match.end()) <= 2 for a in anatomy)
                if not follows:
                    owner.laterality.add(_lateral_value(match.group(1)))
        lead = len(text) - len(text.lstrip())
        for level in measure.levels(text, base):
            if level.start - base <= lead and _COLON_NEXT.match(text, level.end - base):
                for mention in mentions:  # "L4-L5: ..." heads a dictated line about that level
                    mention.levels.append((level.text, level.start, level.end))
                continue
            token = doc.char_span(level.start, level.end, alignment_mode="expand")
            owner = self._nearest(mentions, token.start if token is not None else mentions[-1].token_end)
            owner.levels.append((level.text, level.start, level.end))
        for number in measure.measurements(text, base):
            token = doc.char_span(number.start, number.end, alignment_mode="expand")
            position = token.start if token is not None else mentions[-1].token_end
            owner = self._nearest(mentions, position)
            if _OF_FOLLOWING.match(self.text[number.end: number.end + 8]):
                owner = next((m for m in mentions if 0 <= m.token_start - position <= 5), owner)
            elif token is not None:
                # "a 4 mm nodule": a size written before the name, with only its adjectives between;
                # but "two appendicoliths, one of 12 mm and a smaller 6 mm appendicolith" is one finding
                named = next((m for m in mentions if 0 <= m.token_start - token.end <= 3 and all(
                    t.is_alpha or t.text == "-" for t in doc[token.end: m.token_start])), None)
                if named is not None and not (named.key == owner.key and not named.sites):
                    owner = named
            if owner.presence == "absent":
                continue  # "kidneys normal in size (right 5.8 cm) with no hydronephrosis": no size of nothing
            owner.numbers.append(number)
        if _THESE_LEVELS.search(text):
            for previous, mention in zip(mentions, mentions[1:]):
                if not mention.levels and previous.levels and \
                        _THESE_LEVELS.search(doc[mention.token_end: mention.token_end + 6].text):
                    mention.levels = list(previous.levels)

    def _link(self, mentions: list[Mention], sentence: Any) -> None:
        """'X with Y', 'X causing Y': the two share sites and levels; qualifiers take X's sites."""
        doc = self.doc
        for previous, mention in zip(mentions, mentions[1:]):
            between = {t.text.lower() for t in doc[previous.token_end: mention.token_start]}
            if between & _LINK_WORDS and not mention.dependent and not previous.dependent \
                    and previous.key in self.process | {"extension"} and mention.key not in self.unsited:
                for term, value in list(previous.sites.items()):
                    mention.sites.setdefault(term, value)
                for term, value in list(mention.sites.items()):
                    previous.sites.setdefault(term, value)
                if not mention.levels:
                    mention.levels = list(previous.levels)
                if not previous.levels:
                    previous.levels = list(mention.levels)
                if not mention.laterality:
                    mention.laterality = {v[2] for v in previous.sites.values() if v[2]} or set(previous.laterality)
        for previous, mention in zip(mentions, mentions[1:]):
            between = doc[previous.token_end: mention.token_start].text.lower()
            if _INTERPRETATION.search(between) and not mention.sites:
                mention.sites = dict(previous.sites)
                mention.laterality = mention.laterality or set(previous.laterality)
        for index, mention in enumerate(mentions):
            if not mention.dependent or mention.sites:
                continue
            if mention.ref_key:
                referent = next((m for m in mentions if m.key == mention.ref_key and m is not mention), None)
            else:
                earlier = [m for m in mentions[:index] if not m.dependent]
                referent = earlier[-1] if earlier else None
            if referent is not None:
                mention.ref_mention = referent
                mention.ref_key = referent.key
