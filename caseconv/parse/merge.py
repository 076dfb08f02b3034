"""One finding from its many mentions.

A case report names a finding in its narrative and again in the captions that show it.
Mentions of one concept with the same presence are one finding unless they contradict
each other (left vs right, different levels, different sizes, or, between two narrative
mentions, different organs). Two mentions of different names that agree on side, sites
and size describe the same lesion ("the left psoas fluid collection ... 2.1 x 4.2 cm" and
"left psoas abscess ... 2.1 x 4.2 cm"). A "bilateral X" that the text then describes as a
left and a right X is a summary of those two, not a third finding.
"""

from __future__ import annotations

from caseconv.coding.tables import singular
from caseconv.model import Finding, Measurement, Site
from caseconv.parse.findings import Mention, combine_laterality
from caseconv.parse.measure import expand_level
from caseconv.parse.nlp import parse_rules
from caseconv.parse.text import CleanText

_PROCESS_NEEDING_SITE = frozenset({"compression", "indentation", "extension"})
_PROCESS = frozenset(parse_rules()["process_heads"]) | {"extension"}
_FAMILIES = {key: group[0] for group in parse_rules()["same_observation"] for key in group}


def _family(key: str) -> str:
    """Heads that name one observation of an organ ("enlarged" and "dilated" appendix) share a family."""
    return _FAMILIES.get(key, key)


def _related(first: str, second: str) -> bool:
    """One observation: the same family, or a specific name and its general head ("renal mass", "mass")."""
    return (_family(first) == _family(second) or first.endswith(" " + second)
            or second.endswith(" " + first))


def _vertebrae(mention: Mention) -> set[str]:
    return {v for level, _, _ in mention.levels for v in expand_level(level)}


def _values(mention: Mention) -> tuple[float, ...]:
    return tuple(sorted(round(n.value * (10 if n.unit == "cm" else 1), 3) for n in mention.numbers))


def _compatible(first: Mention, second: Mention) -> bool:
    if first.presence != second.presence:
        return False
    a, b = combine_laterality(first.laterality), combine_laterality(second.laterality)
    if a and b and a != b:
        return False
    if first.levels and second.levels:
        segments = [{level for level, _, _ in m.levels if "-" in level} for m in (first, second)]
        if all(segments) and not segments[0] & segments[1]:
            return False  # L4-L5 and L5-S1 share a vertebra, not a disc
        if not _vertebrae(first) & _vertebrae(second):
            return False
    if first.numbers and second.numbers and _values(first) != _values(second):
        return False
    if first.own_sites and second.own_sites and not first.own_sites & second.own_sites:
        # a process is defined by what it acts on; two objects differ when the narrative
        # itself places them apart (captions restate the narrative in fewer words)
        narrative = not first.restates and not second.restates
        return not (first.key in _PROCESS or narrative)
    first_sites, second_sites = set(first.sites) - first.region_sites, set(second.sites) - second.region_sites
    if not first.restates and not second.restates and first_sites and second_sites:
        return bool(first_sites & second_sites)
    return True


def _same_lesion(first: Mention, second: Mention) -> bool:
    return (first.presence == second.presence and bool(first.laterality) and first.laterality == second.laterality
            and bool(first.sites) and set(first.sites) == set(second.sites)
            and bool(first.numbers) and _values(first) == _values(second))


def _absorb(target: Mention, other: Mention) -> None:
    named = (set(target.sites) - target.region_sites) | (set(other.sites) - other.region_sites)
    for term, value in other.sites.items():
        target.sites.setdefault(term, value)
    target.region_sites = set(target.sites) - named
    target.own_sites |= other.own_sites
    target.laterality |= other.laterality
    known = {level for level, _, _ in target.levels}
    target.levels.extend(level for level in other.levels if level[0] not in known)
    if not target.numbers:
        target.numbers = list(other.numbers)
    target.labels.extend(label for label in [target.source, other.source, *other.labels]
                         if label != "narrative" and label not in target.labels)
    target.figure_refs.extend(ref for ref in other.figure_refs if ref not in target.figure_refs)
    if target.source != "narrative" and other.source == "narrative" and \
            len(other.text.split()) >= len(target.text.split()) - 1:
        # the narrative names the finding unless a caption names it more fully; its concept goes
        # with its name, so the code says what the text says
        target.block, target.text, target.start, target.end = other.block, other.text, other.start, other.end
        target.key = other.key


def _inherit(mentions: list[Mention]) -> None:
    """Qualifying findings without sites take those of the finding they qualify."""
    first_sited: dict[str, Mention] = {}
    for m in mentions:
        if m.sites and not m.dependent and m.presence == "present":
            first_sited.setdefault(m.key, m)
    for mention in mentions:
        if mention.sites or not mention.dependent:
            continue
        referent = mention.ref_mention
        if referent is None or not referent.sites:
            referent = first_sited.get(mention.ref_key or "", referent)
        if referent is not None:
            for term, value in referent.sites.items():
                mention.sites.setdefault(term, value)
            if not mention.laterality and not mention.named_ref:
                mention.laterality = set(referent.laterality)


_COUNT_WORDS = ("two ", "three ", "four ", "several ", "multiple ", "both ", "numerous ", "few ")


def _side_by_side(first: Mention, second: Mention) -> bool:
    """Two findings one sentence names apart ("lateral recess stenosis and central canal
    stenosis", "a disc bulge with a protrusion"), unless the first counts them ("two
    appendicoliths, one of 12 mm and a smaller 6 mm appendicolith")."""
    named_alike = first.key == second.key or first.key.endswith(" " + second.key) or \
        second.key.endswith(" " + first.key)
    if first.sentence < 0 or first.sentence != second.sentence or not named_alike:
        return False
    if first.dependent or second.dependent or first.restates or second.restates:
        return False
    text = first.text.lower()
    last = text.split()[-1] if text.split() else ""
    return not (text.startswith(_COUNT_WORDS) or singular(last) != last) and text != second.text.lower()


#: How many earlier findings of a kind a mention is compared with. A report names a finding
#: again within a few dozen mentions; hostile text (thousands of nodules of different sizes)
#: would otherwise compare every pair.
MERGE_WINDOW = 64


def merge(mentions: list[Mention]) -> list[Mention]:
    """The findings of a report: mentions merged, qualifiers resolved, summaries dropped."""
    _inherit(mentions)
    merged: list[Mention] = []
    by_family: dict[str, list[int]] = {}
    by_word: dict[str, list[int]] = {}
    for mention in mentions:
        family, word = _family(mention.key), mention.key.rsplit(" ", 1)[-1]
        near = sorted({*by_family.get(family, [])[-MERGE_WINDOW:], *by_word.get(word, [])[-MERGE_WINDOW:]})
        target = next((m for m in (merged[i] for i in near) if _related(m.key, mention.key)
                       and _compatible(m, mention) and not _side_by_side(m, mention)
                       and (m.key == mention.key or m.own_sites & mention.own_sites or
                            _family(m.key) != _family(mention.key))), None)
        if target is None:
            target = next((m for m in merged[-MERGE_WINDOW:] if _same_lesion(m, mention)), None)
        if target is None:
            by_family.setdefault(family, []).append(len(merged))
            by_word.setdefault(word, []).append(len(merged))
            merged.append(mention)
        else:
            _absorb(target, mention)
    _inherit(merged)
    by_key: dict[str, list[Mention]] = {}
    for mention in merged:
        by_key.setdefault(mention.key, []).append(mention)
    result = []
    for mention in merged:
        if mention.key in _PROCESS_NEEDING_SITE and not mention.sites and not mention.levels:
            continue
        if combine_laterality(mention.laterality) == "bilateral":
            sides = [m for m in by_key[mention.key] if m.presence == mention.presence
                     and combine_laterality(m.laterality) in {"left", "right"}]
            if {combine_laterality(m.laterality) for m in sides} == {"left", "right"}:
                for side in sides:
                    for term, value in mention.sites.items():
                        side.sites.setdefault(term, value)
                continue
        result.append(mention)
    return result


def to_finding(mention: Mention, clean: CleanText) -> Finding:
    """The model's `Finding` for a merged mention (sites named by their table term)."""
    sites = tuple(Site(term, clean.span(start, end)) for term, (start, end, _) in mention.sites.items())
    levels: list[str] = []
    for level, _, _ in mention.levels:
        if level not in levels:
            levels.append(level)
    ranges = [set(expand_level(level)) for level in levels if "-" in level]
    levels = [level for level in levels if "-" in level or not any(level in r for r in ranges)]
    measurements = tuple(Measurement(n.value, n.unit, n.text, clean.span(n.start, n.end), n.kind)
                         for n in mention.numbers)
    source = mention.source
    return Finding(mention.text, clean.span(mention.start, mention.end), None, sites,
                   combine_laterality(mention.laterality), tuple(levels), measurements, mention.presence,
                   source, (), mention.key)
