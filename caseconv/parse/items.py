"""The parts of a report other than findings: patient, history, procedures, diagnoses, figures."""

from __future__ import annotations

import re
from typing import Any

from caseconv.coding.tables import normalize
from caseconv.model import MODALITIES, Age, Diagnosis, Figure, HistoryItem, Patient, Procedure, Quantity, Site
from caseconv.parse import measure
from caseconv.parse.blocks import SKIP_KINDS, Block
from caseconv.parse.index import ByStart, sentences
from caseconv.parse.nlp import Vocabulary, parse_rules
from caseconv.parse.text import CleanText

_LATERAL_WORD = re.compile(r"\b(left|right|bilateral|both|rlq|ruq|llq|luq)(?:[- ]sided)?\s+(?:\w+\s+){0,2}$",
                           re.IGNORECASE)
_QUADRANT = {"rlq": "right", "ruq": "right", "llq": "left", "luq": "left", "both": "bilateral"}
_RADIATING = re.compile(r"\bradiat(?:es|ing|ed)\s+(?:down\s+)?(?:to|into)\s+(?:the\s+)?(?P<side>left|right)?\s*"
                        r"(?P<site>[a-z]+(?:\s[a-z]+)?)", re.IGNORECASE)


def _laterality_before(text: str, position: int) -> str | None:
    match = _LATERAL_WORD.search(text[max(0, position - 40): position])
    if not match:
        return None
    word = match.group(1).lower()
    return _QUADRANT.get(word, word)


def patient(clean: CleanText, blocks: list[Block]) -> Patient:
    """Age and sex from the first sentence that gives them (the discussion excluded)."""
    text = clean.text
    for block in blocks:
        if block.kind in SKIP_KINDS or block.kind == "caption":
            continue
        chunk = text[block.start: block.end]
        found = measure.age(chunk)
        if found is None:
            continue
        age = Age(found.value, found.unit, clean.span(block.start + found.start, block.start + found.end))
        sex = measure.sex(chunk, found.end)
        base = block.start
        if sex is None:  # "Age: 82 years" / "Gender: Male" on lines of their own
            following = [b for b in blocks if b.start > block.start and b.kind not in SKIP_KINDS][:3]
            for other in following:
                sex = measure.sex(text[other.start: other.end])
                if sex is not None and sex[2] - sex[1] > 1:
                    base = other.start
                    break
                sex = None
        if sex is None:
            return Patient(age=age)
        word, start, end = sex
        return Patient(age=age, sex=word, sex_span=clean.span(base + start, base + end))
    for block in blocks:
        if block.kind not in SKIP_KINDS:
            sex = measure.sex(text[block.start: block.end])
            if sex and len(text[block.start + sex[1]: block.start + sex[2]]) > 1:
                return Patient(sex=sex[0], sex_span=clean.span(block.start + sex[1], block.start + sex[2]))
    return Patient()


def history(clean: CleanText, doc: Any, kinds: dict[int, Block], vocabulary: Vocabulary) -> list[HistoryItem]:
    """Presenting complaints: symptoms outside the exam, imaging and discussion, with duration."""
    text = clean.text
    items: list[HistoryItem] = []
    seen: set[str] = set()
    symptom_ents = ByStart([e for e in doc.ents if e.label_ == "SYMPTOM"], lambda e: e.start)
    for sentence in sentences(doc).spans:
        block = kinds.get(sentence.start_char)
        if block is None or block.kind not in {"history", "narrative"}:
            continue
        symptoms = [e for e in symptom_ents.between(sentence.start, sentence.end) if not e._.is_negated][:20]
        found = measure.duration(text[sentence.start_char: sentence.end_char])
        laterality = None
        for ent in symptoms:
            rule = ent._.target_rule
            concept = rule.metadata["concept"] if rule is not None and rule.metadata else ent.text.lower()
            if concept in seen or any(concept in s and concept != s for s in seen):
                continue
            seen.add(concept)
            start = ent.start_char
            word_before = _laterality_before(text, start)
            laterality = word_before or (laterality if ent.start > 0 and doc[ent.start - 1].text.lower() == "and"
                                         else None)
            inside = re.match(r"(rlq|ruq|llq|luq|left|right)\b", ent.text, re.IGNORECASE)
            if inside:
                laterality = _QUADRANT.get(inside.group(1).lower(), inside.group(1).lower())
            lead = re.search(r"((?:left|right|rlq|ruq|llq|luq)(?:[- ]sided)?\s+(?:\w+\s+){0,1})$",
                             text[max(0, start - 25): start], re.IGNORECASE)
            if lead:
                start -= len(lead.group(1))
            items.append(HistoryItem(text[start: ent.end_char], clean.span(start, ent.end_char),
                                     duration=Quantity(*found) if found else None, laterality=laterality))
        for match in _RADIATING.finditer(text[sentence.start_char: sentence.end_char]):
            site = vocabulary.tables.lookup("anatomy", match["site"])
            if site is None:
                continue
            start = sentence.start_char + match.start()
            end = sentence.start_char + match.end()
            side = match["side"].lower() if match["side"] else None
            phrase = f"pain radiating to {(side + ' ') if side else ''}{match['site']}"
            items.append(HistoryItem(phrase, clean.span(start, end), laterality=side))
    return items


_AGENT = r"(?:iv |i/v |intravenous )?(?:contrast|gadolinium|gd)"
_CONTRAST_BOTH = re.compile(rf"\bpre[- ]?\s*(?:and|&|/)\s*post[- ]?\s*contrast|with and without {_AGENT}|"
                            rf"without and with {_AGENT}", re.IGNORECASE)
_CONTRAST_WITH = re.compile(r"\b(?:ct|mri?|cta|mra)\s*[-,]\s*(?:with\s)?contrast\b|\bpost[- ]?contrast|"
                            r"\bafter (?:iv |i/v |intravenous )?contrast|\bw/\s?contrast|"
                            r"\bwith (?:iv |i/v |intravenous )?contrast|contrast[- ]enhanced|\bcect\b|gadolinium",
                            re.IGNORECASE)
_CONTRAST_WITHOUT = re.compile(r"\bnon[- ]?contrast|\bwithout (?:iv |i/v )?contrast|\bunenhanced|\bplain ct|"
                               r"\bncct\b|\bpre[- ]?contrast", re.IGNORECASE)


def contrast_of(text: str) -> str | None:
    """The contrast phase a caption or sentence names: pre and post, post, or without."""
    if _CONTRAST_BOTH.search(text):
        return "pre and post"
    post = _CONTRAST_WITH.search(text)
    if post:
        name = re.search(r"\b(\w+)\s+and\s+post[- ]?\s*contrast\s+(\w+)", text, re.IGNORECASE)
        if name and name.group(1).lower() == name.group(2).lower():
            return "pre and post"
        return "post"
    if _CONTRAST_WITHOUT.search(text):
        return "without"
    return None


def _word_pattern(names: list[str]) -> re.Pattern[str]:
    escaped = sorted((re.escape(n) for n in names), key=len, reverse=True)
    return re.compile(r"(?<![\w*])(?:" + "|".join(escaped) + r")(?![\w])", re.IGNORECASE)


def figures(clean: CleanText, blocks: list[Block], procedures_modality: str | None) -> list[Figure]:
    """One figure per caption, with the sequences, planes and contrast it names."""
    rules = parse_rules()
    sequences = {name: _word_pattern(names) for name, names in rules["sequences"].items()}
    planes = {name: _word_pattern(names) for name, names in rules["planes"].items()}
    result = []
    for block in blocks:
        if block.kind != "caption" or not block.label:
            continue
        for label, start, end in _panels(clean.text, block):
            result.append(_figure(clean, label, start, end, sequences, planes, procedures_modality))
    return result


#: "Fig. 1 a Axial CT ... b Sagittal T1-weighted MRI ...": the next panel's letter after a full stop.
_NEXT_PANEL = re.compile(r"(?<=[.;])\s+\(?(?P<letter>[b-h])\)?[\s.)]\s*(?=[A-Z])")


def _panels(text: str, block: Block) -> list[tuple[str, int, int]]:
    """A caption's panels, each with its own label and text ("Fig 1a", "Fig 1b"...), or the
    caption whole when it names one panel or none."""
    label = block.label or ""
    first = re.fullmatch(r"(?P<base>.+\d)(?P<letter>[a-h])", label)
    if first is None:
        return [(label, block.start, block.end)]
    caption = text[block.start: block.end]
    expected = ord(first["letter"]) + 1
    cuts = []
    for match in _NEXT_PANEL.finditer(caption):
        if ord(match["letter"]) == expected:  # b after a, c after b: a panel, not a stray letter
            cuts.append((match["letter"], match.start()))
            expected += 1
    if not cuts:
        return [(label, block.start, block.end)]
    panels = [(label, block.start, block.start + cuts[0][1])]
    for (letter, begin), following in zip(cuts, [*cuts[1:], (None, len(caption))]):
        panels.append((first["base"] + letter, block.start + begin, block.start + following[1]))
    return panels


def _figure(clean: CleanText, label: str, start: int, end: int, sequences: dict[str, Any],
            planes: dict[str, Any], procedures_modality: str | None) -> Figure:
    """One figure (or panel) with the sequences, planes, contrast and modality it names."""
    caption = clean.text[start:end].strip()
    start += clean.text[start:end].index(caption) if caption else 0
    end = start + len(caption)
    if re.match(r"\(?[a-h]\)?[\s.)]", caption):  # a later panel: "b Sagittal T1-weighted MRI ..."
        body = re.sub(r"^\(?[a-h]\)?[\s.)]\s*", "", caption, count=1)
    else:
        body = re.sub(r"^\S+\.?\s*\S+?[.:)]?\s", "", caption, count=1)
    # the acquisition is named first ("MR - T1W - noncontrast, sagittal."); later sentences
    # describe what is seen ("hyperintense on T1", "lateral ventricles")
    first = re.match(r".+?(?:\.\s|$)", body)
    body = first.group(0) if first else body
    found_sequences = tuple(n for n, p in sequences.items() if p.search(body))
    if "T2*" in found_sequences and "T2W" in found_sequences and not re.search(r"t2(?!\*)w", body, re.I):
        found_sequences = tuple(s for s in found_sequences if s != "T2W")
    found_planes = tuple(n for n, p in planes.items() if p.search(body))
    modality = None
    explicit = re.search(r"\b(CT|MRI?|US|PET|NM)\b|\b(radiograph|x-ray|plain film)", body, re.IGNORECASE)
    if explicit and (explicit.group(2) or explicit.group(1).isupper()):
        modality = "DX" if explicit.group(2) else {"MRI": "MR", "PET": "PT"}.get(explicit.group(1), explicit.group(1))
    elif found_sequences and set(found_sequences) - {"scout"}:
        modality = "MR"
    elif procedures_modality:
        modality = procedures_modality
    return Figure(label, caption, clean.span(start, end), found_sequences, found_planes, contrast_of(body), modality)


def _modality_matches(doc: Any, vocabulary: Vocabulary) -> list[tuple[int, int, str]]:
    result = []
    for match_id, start, end in vocabulary.modalities(doc):
        span = doc[start:end]
        if doc.vocab.strings[match_id] not in MODALITIES:
            continue
        # short upper-case names (CT, MR, US) only as written in capitals: 'us' is a pronoun
        if len(span.text) <= 3 and not span.text.isupper():
            continue
        result.append((start, end, doc.vocab.strings[match_id]))
    result.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    chosen, last = [], -1
    for match in result:
        if match[0] >= last:
            chosen.append(match)
            last = match[1]
    return chosen


def procedures(clean: CleanText, doc: Any, kinds: dict[int, Block], vocabulary: Vocabulary,
               figures_found: list[Figure], has_enhancement: bool) -> list[Procedure]:
    """Imaging procedures: each modality with the region it names and the contrast used."""
    tables = vocabulary.tables
    anatomy = ByStart([(doc.vocab.strings[i], s, e) for i, s, e in vocabulary.anatomy(doc)], lambda a: a[1])
    by_sentence = sentences(doc)
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    order: list[tuple[str, str | None]] = []
    for start, end, modality in _modality_matches(doc, vocabulary):
        sentence = by_sentence.of(start)
        block = kinds.get(sentence.start_char)
        if block is None or block.kind in SKIP_KINDS:
            continue
        region = None
        for term, a_start, a_end in anatomy.between(start - 12, end + 5):
            gap = re.sub(r"\b(?:left|right|bilateral)\b", "", doc[end:a_start].text.lower()).split()
            near_after = 0 <= a_start - end <= 4 and " ".join(gap) in {"of", "of the", "", "the"}
            near_before = 0 <= start - a_end <= 1
            inside = start <= a_start < end
            if (near_after or near_before or inside) and sentence.start <= a_start < sentence.end:
                region = (term, doc[a_start:a_end])
                break
        key = (modality, region[0] if region else None)
        if key not in found:
            if region is None and any(k[0] == modality for k in found):
                continue
            if region is not None and (modality, None) in found:
                del found[(modality, None)]
                order.remove((modality, None))
            span = doc[start:end]
            found[key] = {"text": sentence.text.strip(), "span": (sentence.start_char, sentence.end_char),
                          "region": region, "contrast": set()}
            order.append(key)
        found[key]["contrast"].add(contrast_of(sentence.text))
    result = []
    for key in order:
        entry = found[key]
        modality = key[0]
        phases = {c for c in entry["contrast"] if c}
        phases |= {f.contrast for f in figures_found if f.modality == modality and f.contrast}
        if len({k[0] for k in order}) == 1:
            for sentence in by_sentence.spans:
                block = kinds.get(sentence.start_char)
                if block is not None and block.kind not in SKIP_KINDS and block.kind != "caption":
                    phase = contrast_of(sentence.text)
                    if phase:
                        phases.add(phase)
        contrast = None
        if "pre and post" in phases or ({"post", "without"} <= phases):
            contrast = "with and without"
        elif "post" in phases:
            contrast = "with"
        elif "without" in phases:
            contrast = None if has_enhancement and modality in {"CT", "MR"} else "without"
        region = None
        if entry["region"] is not None:
            term, span = entry["region"]
            concept = tables.lookup("anatomy", term)
            region = Site(concept.term if concept else span.text, clean.span(span.start_char, span.end_char))
        start, end = entry["span"]
        result.append(Procedure(entry["text"][:200] or modality, clean.span(start, end), modality, region,
                                contrast))
    return result


def _split_list(text: str) -> list[tuple[int, int]]:
    """Items of 'A, B and C' (or 'A versus B') with their offsets (parentheses kept whole)."""
    items, depth, start = [], 0, 0
    index = 0
    while index < len(text):
        char = text[index]
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            separator = re.match(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or|versus|vs\.?),?\s+|;\s*", text[index:])
            if separator and (char in ",;" or char.isspace()):
                items.append((start, index))
                index += separator.end()
                start = index
                continue
        index += 1
    items.append((start, len(text)))
    # ", and, less likely, X": the hedge between commas is no item
    return [(s, e) for s, e in items if text[s:e].strip(" .") and not _LIST_HEDGE.fullmatch(text[s:e].strip(" ."))]


_LIST_HEDGE = re.compile(r"(?:(?:less|more|most|very)\s+)?(?:likely|probably|possibly|rarely)", re.IGNORECASE)


def _diagnosis(clean: CleanText, start: int, end: int, status: str) -> Diagnosis | None:
    text = clean.text[start:end]
    stripped = re.sub(r"^(?:[-*\u2022\u00b7]|\d{1,2}[.)])\s*", "", text.strip(" .,:;\n")).strip(" .,:;\n")
    stripped = re.sub(r"^(?:a|an|the)\s+", "", stripped, flags=re.IGNORECASE)  # "a low-grade carcinoma"
    if not stripped or len(stripped) > 120 or not re.search(r"[A-Za-z]{2}", stripped):
        return None
    offset = start + text.index(stripped)
    return Diagnosis(stripped, clean.span(offset, offset + len(stripped)), status=status)


_INTERPRETS = re.compile(r"\b(?:consistent with|suggestive of|suggesting|compatible with|diagnostic of|"
                         r"in keeping with|concerning for|suspicious for|representing|represents?|likely|probable|"
                         r"favou?r(?:ing|s)?)\b", re.IGNORECASE)
_PATHOLOGY = re.compile(r"\b(?:histopatholog\w*|patholog\w*|biopsy|histolog\w*|cytolog\w*|culture)\b[^.]{0,80}?"
                        r"\b(?:confirmed|revealed|showed|consistent with|diagnostic of|proved|proven)\b", re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:suggestive|suggesting|suspicious|concerning|likely|probable|possibl[ey]|favou?r\w*|"
                    r"may|cannot be excluded|compatible with|in keeping with|suspected|presumed|presumptive|"
                    r"questionable|cannot(?: \w+){0,3} (?:exclude|rule out))\b", re.IGNORECASE)
#: A diagnosis the sentence sets aside after naming it: "malrotation is not suggested".
_DENIED_AFTER = re.compile(r"\s*(?:is|are|was|were)\s+(?:(?:considered|felt|thought)\s+)?(?:not\s+(?:suggested|seen|"
                           r"identified|present|demonstrated|favou?red|likely|supported)|excluded|unlikely)\b",
                           re.IGNORECASE)
#: A hedge later in the clause that names the diagnosis: "oncocytoma or angiomyolipoma cannot be excluded".
_HEDGE_LATER = re.compile(r"\b(?:cannot be (?:excluded|ruled out)|not (?:be )?excluded|(?:is|are) (?:also )?possible|"
                          r"less likely|(?:is|are) (?:also )?considered)\b", re.IGNORECASE)
#: "X is favored", "X more likely": a hedge written after the diagnosis.
_HEDGE_AFTER = re.compile(r"\s*(?:is\s+|are\s+)?(?:favou?red|more likely|most likely|likely|suspected)\b",
                          re.IGNORECASE)
#: "pyogenic abscess favored over amebic abscess": what follows is the alternative set aside.
_SET_ASIDE = re.compile(r"\b(?:over|rather than|versus|vs\.?)\s+(?:an?\s+|the\s+)?$", re.IGNORECASE)


#: Words a named diagnosis does not reach back over: cue words, verbs and determiners.
_NAMED_STOP = frozenset("""of with for and or a an the is are to as likely probable possible suspected
suggestive consistent compatible confirmed revealed showed shows show demonstrated demonstrates indicated
suggested proved biopsy histopathology pathology histology cytology examination over than versus vs favored
favoured favor favour possibly represent represents may might could findings finding which this""".split())


def _widen_left(doc: Any, start: int, first: int, stop: frozenset[str], hyphens: bool = False) -> int:
    """Where a diagnosis name begins: back from ``start`` over the words that qualify it (and,
    with ``hyphens``, hyphenated ones: "bucket-handle"), not before ``first`` nor over a ``stop`` word."""
    begin = start
    while begin - 1 >= first and (doc[begin - 1].is_alpha and doc[begin - 1].text.lower() not in stop
                                  or hyphens and doc[begin - 1].text == "-" and begin - 2 >= first
                                  and doc[begin - 2].is_alpha):
        begin -= 1
    return begin


def _named_diagnoses(clean: CleanText, doc: Any, kinds: dict[int, Block], vocabulary: Vocabulary) -> list[Diagnosis]:
    """Diagnoses the table knows, named in an impression, an interpretation ("consistent with X")
    or a pathology result ("biopsy confirmed X"); none where the report states its diagnosis
    under a heading (a teaching file's "Case Diagnosis")."""
    result: list[Diagnosis] = []
    if any(block.kind == "diagnosis" for block in kinds.values()):
        return result
    matches = ByStart(sorted(((s, e) for _, s, e in vocabulary.diagnoses(doc)), key=lambda m: (m[0], -(m[1] - m[0]))),
                      lambda m: m[0])
    ents = ByStart(list(doc.ents), lambda e: e.start)
    for sentence in sentences(doc).spans:
        block = kinds.get(sentence.start_char)
        if block is None or block.kind in {"discussion", "ignore", "title", "heading", "exam", "history",
                                           "differential", "diagnosis"}:
            continue
        body = clean.text[sentence.start_char: sentence.end_char]
        pathology = _PATHOLOGY.search(body)
        interprets = _INTERPRETS.search(body)
        if not (block.kind == "impression" or pathology or interprets):
            continue
        if re.search(r"differential", body, re.IGNORECASE):
            continue
        cue_end = sentence.start_char + min(m.end() for m in (pathology, interprets) if m) \
            if (pathology or interprets) and block.kind != "impression" else sentence.start_char
        last_end = -1
        for start, end in matches.between(sentence.start, sentence.end)[:20]:
            span = doc[start:end]
            if not (sentence.start <= start < sentence.end) or span.start_char < cue_end or start < last_end:
                continue
            last_end = end
            negated = any(e._.is_negated for e in ents.between(start - 12, start + 1) if e.start <= start < e.end)
            if negated or re.search(
                    r"\b(?:no|without|negative for)\s+(?:\w+\s+){0,3}$", clean.text[max(0, span.start_char - 40):
                                                                          span.start_char], re.IGNORECASE):
                continue
            if _DENIED_AFTER.match(clean.text, span.end_char):
                continue
            begin = _widen_left(doc, start, sentence.start, _NAMED_STOP, hyphens=True)
            hedged = not pathology and bool(_HEDGE.search(body[: span.start_char - sentence.start_char]))
            status = "provisional" if hedged else "confirmed"
            if _SET_ASIDE.search(clean.text[max(sentence.start_char, doc[begin].idx - 30): doc[begin].idx]):
                status = "differential"
            elif _HEDGE_AFTER.match(clean.text, span.end_char) or _HEDGE_LATER.search(
                    re.split(r"[.;]", clean.text[span.end_char: sentence.end_char], maxsplit=1)[0]):
                status = "provisional"  # "pyogenic abscess favored over ...", "X or Y cannot be excluded"
            item = _diagnosis(clean, doc[begin].idx, span.end_char, status)
            if item:
                result.append(item)
    return result


#: "Lymphoma mimicking an abscess": the disease a title says the case only looked like.
_LOOKS_LIKE = re.compile(r"\b(?:mimicking|mimics?|masquerading as|simulating|resembling|presenting as|mistaken for|"
                         r"disguised as)\s+(?:an?\s+|the\s+)?$", re.IGNORECASE)
_TITLE_STOP = frozenset("of with for and or a an the in on to as by from complicating presenting after due "
                        "causing following case report rare unusual".split())


def _title_diagnoses(clean: CleanText, doc: Any, kinds: dict[int, Block], vocabulary: Vocabulary) -> list[Diagnosis]:
    """A case report's title names its diagnosis ("Spinal epidural abscess complicating
    discitis: a case report"): read when the body states none."""
    titles = [s for s in sentences(doc).spans if (b := kinds.get(s.start_char)) is not None and b.kind == "title"]
    if not titles:
        return []
    result: list[Diagnosis] = []
    # a title names a disease or the finding the case is about ("Chronic subdural haematoma")
    named = [(s, e) for _, s, e in vocabulary.diagnoses(doc)]
    named += [(e.start, e.end) for e in doc.ents if e.label_ == "FINDING"
              and any(t.start <= e.start < t.end for t in titles)]
    matches = ByStart(sorted(named, key=lambda m: (m[0], -(m[1] - m[0]))), lambda m: m[0])
    for title in titles:
        last_end = -1
        for start, end in matches.between(title.start, title.end):
            if start < last_end or end > title.end:
                continue
            last_end = end
            begin = _widen_left(doc, start, title.start, _TITLE_STOP, hyphens=True)
            if _LOOKS_LIKE.search(clean.text[max(0, doc[begin].idx - 40): doc[begin].idx]):
                continue
            item = _diagnosis(clean, doc[begin].idx, doc[end - 1].idx + len(doc[end - 1].text), "confirmed")
            if item:
                result.append(item)
    return result


#: A diagnosis heading written on the line of its diagnosis: "Final diagnosis: X".
_HEADING_ON_LINE = re.compile(r"\s*(?:[A-Za-z]+\s+){0,3}?(?:diagnos[ie]s|differentials?|impression|conclusion)"
                              r"(?:\s+[A-Za-z]+){0,2}\s*:\s*", re.IGNORECASE)


def _name_break(breaks: re.Pattern[str], piece: str) -> int | None:
    """Where a diagnosis name after a cue ends: at the first break ("with", "due to", "(" ...),
    but across a parenthesis inside the name ("type A (DeBakey type I) aortic dissection")."""
    position = 0
    while (cut := breaks.search(piece, position)) is not None:
        if cut.group() == "(":
            close = piece.find(")", cut.end(), cut.end() + 40)
            if close != -1 and re.match(r"\s+[a-z]", piece[close + 1:]):
                position = close + 1
                continue
        return cut.start()
    return None


def diagnoses(clean: CleanText, doc: Any, kinds: dict[int, Block], vocabulary: Vocabulary) -> list[Diagnosis]:
    """The case diagnosis and the differentials, from headed sections or the narrative's wording."""
    rules = parse_rules()
    result: list[Diagnosis] = []
    cue = re.compile("|".join(re.escape(c) for c in sorted(rules["diagnosis_cues"], key=len, reverse=True)),
                     re.IGNORECASE)
    breaks = re.compile("|".join(re.escape(b) for b in rules["diagnosis_breaks"]), re.IGNORECASE)
    consequence = re.compile(r"\s(?:leading to|resulting in|causing|complicated by)\s", re.IGNORECASE)
    differential = re.compile(r"differentials?(?: diagnos[ie]s)?(?: considerations?)?(?: (?:of|for) [^,.;]{1,60}?)?\s+"
                              r"(?:included|includes|include|were|was|is|are|considered were|comprised)\s*:?\s*",
                              re.IGNORECASE)
    considered = re.compile(r"^(?P<items>.+?)\s+(?:were|was) (?:considered|included) (?:in|as|among) (?:the )?"
                            r"differential", re.IGNORECASE)
    passive = re.compile(r"^(?:(?:the|a|an|finally|subsequently|eventually),?\s+)*(?P<dx>[^,;]{3,80}?)\s+was\s+"
                         r"(?:finally\s+|eventually\s+|then\s+)?(?:diagnosed|confirmed)\b(?!\s+(?:as|with|by|on))",
                         re.IGNORECASE)
    all_ents = ByStart(list(doc.ents), lambda e: e.start)
    for sentence in sentences(doc).spans:
        block = kinds.get(sentence.start_char)
        if block is None or block.kind in {"discussion", "ignore", "title", "heading", "exam"}:
            continue
        body = clean.text[sentence.start_char: sentence.end_char]
        base = sentence.start_char
        if block.kind in {"differential", "diagnosis"}:
            status = "differential" if block.kind == "differential" else "confirmed"
            heading = _HEADING_ON_LINE.match(body)  # "Final diagnosis: X" on one line
            if heading:
                base, body = base + heading.end(), body[heading.end():]
            for start, end in _split_list(body) if block.kind == "differential" else [(0, len(body))]:
                item = _diagnosis(clean, base + start, base + end, status)
                if item:
                    result.append(item)
            continue
        match = differential.search(body)
        if match:
            tail_start = match.end()
            tail = body[tail_start:]
            # the list ends at the sentence's end or where a new clause begins ("..., but PET findings
            # supported ...", "..., and for the vertebral lesion ... was considered")
            stop = re.search(r"[.;]\s|$|,?\s+(?:but|whereas|while|although)\s|,\s+and\s+(?:for|in)\s", tail)
            tail = tail[: stop.start()] if stop else tail
            for start, end in _split_list(tail):
                item = _diagnosis(clean, base + tail_start + start, base + tail_start + end, "differential")
                if item:
                    result.append(item)
            continue
        match = considered.search(body)
        if match:
            for start, end in _split_list(match["items"]):
                item = _diagnosis(clean, base + start, base + end, "differential")
                if item:
                    result.append(item)
            continue
        match = passive.search(body.strip())
        if match and vocabulary.tables.lookup("diagnoses", match["dx"]) is not None:
            offset = base + len(body) - len(body.lstrip())
            item = _diagnosis(clean, offset + match.start("dx"), offset + match.end("dx"), "confirmed")
            if item:
                result.append(item)
            continue
        match = cue.search(body)
        if not match:
            continue
        tail_start = match.end()
        tail = body[tail_start:]
        hedged = any(e._.is_uncertain for e in all_ents.between(sentence.start, sentence.end)) or \
            re.search(r"\b(?:likely|probable|suggestive|suspected|possible)\b", body[: match.start()], re.IGNORECASE)
        status = "provisional" if hedged else "confirmed"
        pieces = [(0, len(tail))]
        chained = consequence.search(tail)
        if chained:
            pieces = [(0, chained.start()), (chained.end(), len(tail))]
        for start, end in pieces:
            piece = tail[start:end]
            cut = _name_break(breaks, piece)
            end = start + (cut if cut is not None else len(piece))
            stop = re.search(r"\.\s|\.$", tail[start:end])
            if stop:
                end = start + stop.start()
            candidate = tail[start:end]
            if vocabulary.tables.lookup("symptoms", candidate) or re.search(
                    r"\b(?:hematuria|pain|fever)\b", candidate, re.IGNORECASE):
                continue
            candidate = re.sub(r"^\s*(?:(?:was|is|were|are)\s+)?(?:(?:a|an|the)\s+)?", "", candidate,
                               flags=re.IGNORECASE)  # "the final diagnosis was an ..."
            if re.match(r"\s*(?:confirmed|made|established|based|reached|suspected|considered|uncertain)\b",
                        candidate, re.IGNORECASE):
                continue
            lead = len(tail[start:end]) - len(candidate)
            item = _diagnosis(clean, base + tail_start + start + lead, base + tail_start + end, status)
            if item:
                result.append(item)
    result.extend(_named_diagnoses(clean, doc, kinds, vocabulary))
    if not any(item.status != "differential" for item in result):
        result.extend(_title_diagnoses(clean, doc, kinds, vocabulary))
    # one entry per name and status; a name the report confirms is not also kept as provisional
    confirmed = {normalize(item.text) for item in result if item.status == "confirmed"}
    unique: list[Diagnosis] = []
    seen: set[tuple[str, str]] = set()
    for item in result:
        key = (normalize(item.text), item.status)
        if key not in seen and not (item.status == "provisional" and key[0] in confirmed):
            seen.add(key)
            unique.append(item)
    return unique
