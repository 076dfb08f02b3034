"""Numbers radiologists write: measurements, spinal levels, ages and durations.

Every pattern here is linear (no nested quantifiers), so hostile input such as a
megabyte of "1x1x1x..." is scanned in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"\d{1,4}(?:\.\d{1,3})?"
_LENGTH_UNIT = r"(?:mm|cm|millimet(?:er|re)s?|centimet(?:er|re)s?)"
_UNIT_CODES = {"mm": "mm", "cm": "cm", "ml": "mL", "cc": "mL"}
#: "12.1x11.5 cm", "8.6 x 8.4 x 12.4 cm", "20*10*19 mm", "2.0 cm x 1.8 cm", "5 mm", "12mm".
#: "1.5 and 2.2 cm", "1, 2 and 3 mm": a number listed just before a measurement, sharing its unit.
_LISTED_BEFORE = re.compile(rf"(?<![\w.x*])(?P<n>{_NUMBER})\s*(?:,\s*and|,\s*or|,|and|or)\s*\Z")
_COUNTED = re.compile(r"\b(?:aged?|grade|stage|type|segments?|score|class|levels?|day|week|month|year)s?\s*\Z",
                      re.IGNORECASE)
MEASUREMENT = re.compile(
    rf"(?<![\w.])(?P<a>{_NUMBER})\s?(?P<ua>{_LENGTH_UNIT})?"
    rf"(?:\s?[x*]\s?(?P<b>{_NUMBER})\s?(?P<ub>{_LENGTH_UNIT})?)?"
    rf"(?:\s?[x*]\s?(?P<c>{_NUMBER}))?"
    rf"\s?(?P<unit>{_LENGTH_UNIT}|ml|mL|cc)\b",
    re.IGNORECASE,
)


#: A distance that places a finding: "4 cm from the nipple", "3 cm below the gastro-oesophageal junction".
_A_DISTANCE = re.compile(r"\s+(?:from|proximal to|distal to|above|below|beyond|deep to|away from|lateral to|medial to)"
                         r"\s+(?:the\s+)?(?:nipple|anal verge|skin|ileocaecal|ileocecal|gastro|pylorus|carina|"
                         r"hilum|dentate|pleura|cortex|origin|ostium|bifurcation|insertion|joint|apex|surface|"
                         r"margin|edge|tip|\w+ (?:line|junction|valve))", re.IGNORECASE)


def _unit(text: str | None) -> str | None:
    if not text:
        return None
    text = text.lower()
    if text.startswith("milli"):
        return "mm"
    if text.startswith("centi"):
        return "cm"
    return _UNIT_CODES.get(text)


@dataclass(frozen=True)
class Number:
    value: float
    unit: str
    start: int
    end: int
    text: str
    kind: str | None


def _value(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def measurements(text: str, offset: int = 0) -> list[Number]:
    """Every length or volume in ``text``, one `Number` per value ("12x11 cm" gives two)."""
    found: list[Number] = []
    for match in MEASUREMENT.finditer(text):
        unit = _unit(match["unit"])
        if unit is None or _A_DISTANCE.match(text, match.end()):
            continue  # "4 cm from the nipple": where the finding lies, not its size
        values = [(match["a"], _unit(match["ua"])), (match["b"], _unit(match["ub"])), (match["c"], None)]
        present = [(v, u) for v, u in values if v is not None]
        if len(present) == 1 and present[0][1] is not None and present[0][1] != unit:
            continue
        kinds: list[str | None]
        if len(present) == 2:
            kinds = ["long axis", "short axis"]
        elif len(present) == 3:
            kinds = [None, None, None]
        else:
            kinds = [None]
        if len(present) == 1:  # "measure 1.5 and 2.2 cm": the unit is written once for the list
            start = match.start()
            while (listed := _LISTED_BEFORE.search(text, max(0, start - 24), start)) is not None:
                if _COUNTED.search(text, max(0, listed.start("n") - 16), listed.start("n")):
                    break  # "aged 45 and 3 cm": an age, a grade or a segment, not a length
                found.append(Number(_value(listed["n"]), unit, offset + listed.start("n"), offset + listed.end("n"),
                                    listed["n"], None))
                start = listed.start("n")
        for (value, own_unit), kind in zip(present, kinds):
            found.append(Number(_value(value), own_unit or unit, offset + match.start(),
                                offset + match.end(), match.group(0), kind))
    return sorted(found, key=lambda n: n.start)


_REGIONS = {"C": 7, "T": 12, "L": 5, "S": 5}
_ORDER = ["C", "T", "L", "S"]
#: "L1", "L1-L2", "L3-4", "L1-2", "C5/6", "T12-L4", "L5-S1".
LEVEL = re.compile(r"(?<![\w/])(?P<r1>[CTLS])(?P<n1>\d{1,2})(?:\s?[-/]\s?(?P<r2>[CTLS])?(?P<n2>\d{1,2}))?(?![\w*])")
_SPINE_CONTEXT = re.compile(r"vertebra|spin|disc|disk|level|foram|cord|lumbar|thoracic|cervical|sacral|canal|pedicle",
                            re.IGNORECASE)
_NOT_LEVEL_BEFORE = re.compile(r"(?:on|weighted|sequence|and|post|pre)\s*$", re.IGNORECASE)
#: "T2 hyperintense", "T1-weighted", "T2 signal": an MR weighting, not the vertebra.
_WEIGHTING_AFTER = re.compile(r"\s*-?\s*(?:hyper|hypo|iso|signal|weight|w\b|wi\b|flair|image|sequence|fat|shine|"
                              r"prolong|bright|dark|intens|map|relaxation|star\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Level:
    text: str
    start: int
    end: int


def _valid(region: str, number: int) -> bool:
    return 1 <= number <= _REGIONS[region]


_FROM_TO = re.compile(r"\bfrom (?:the )?(?P<a>[CTLS]\d{1,2}) (?:to|through|till|until) (?:the )?(?P<b>[CTLS]\d{1,2})\b")


def levels(text: str, offset: int = 0) -> list[Level]:
    """Spinal levels, normalised to "L2" or "L2-L3"; T levels only where the text is about the spine."""
    spine = bool(_SPINE_CONTEXT.search(text))
    found = []
    ranges = []
    for match in _FROM_TO.finditer(text):
        joined = levels(f"{match['a']}-{match['b']} level")
        if joined:
            ranges.append((match.start("a"), match.end("b")))
            found.append(Level(joined[0].text, offset + match.start("a"), offset + match.end("b")))
    for match in LEVEL.finditer(text):
        if any(start <= match.start() < end for start, end in ranges):
            continue
        r1, n1 = match["r1"], int(match["n1"])
        r2 = match["r2"] or r1
        n2 = int(match["n2"]) if match["n2"] else None
        if not _valid(r1, n1) or (n2 is not None and not _valid(r2, n2)):
            continue
        if n2 is not None and (_ORDER.index(r2), n2) <= (_ORDER.index(r1), n1):
            continue
        if r1 in "TS" and not spine and n2 is None:
            continue
        if r1 == "T" and n2 is None and n1 <= 2 and _WEIGHTING_AFTER.match(text, match.end()):
            continue
        if r1 == "T" and _NOT_LEVEL_BEFORE.search(text[max(0, match.start() - 20): match.start()]) and n2 is None:
            continue
        label = f"{r1}{n1}" if n2 is None else f"{r1}{n1}-{r2}{n2}"
        found.append(Level(label, offset + match.start(), offset + match.end()))
    return found


def expand_level(label: str) -> list[str]:
    """The vertebrae a level touches: "L2-L3" -> L2, L3; "T12-L2" -> T12, L1, L2."""
    match = LEVEL.fullmatch(label)
    if not match:
        return [label]
    r1, n1 = match["r1"], int(match["n1"])
    if not match["n2"]:
        return [label]
    r2, n2 = match["r2"] or r1, int(match["n2"])
    result = []
    region, number = r1, n1
    while True:
        result.append(f"{region}{number}")
        if (region, number) == (r2, n2) or len(result) > 30:
            return result
        number += 1
        if number > _REGIONS[region]:
            region = _ORDER[_ORDER.index(region) + 1]
            number = 1


_AGE = re.compile(
    r"(?<![\w.])(?P<n>\d{1,3})(?:\s?|-)(?P<u>years?|yrs?|y\.?\s?o\.?|yo|months?|mos?|weeks?|wks?|days?)"
    r"(?:[\s-]?old)?\b",
    re.IGNORECASE,
)
_SEX = re.compile(
    r"\b(?P<f>woman|female|lady|girl|mrs|f)\b|\b(?P<m>man|male|gentleman|boy|mr|m)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Age:
    value: int
    unit: str
    start: int
    end: int


#: "Age: 82 years" in a teaching file's patient data.
_AGE_LABEL = re.compile(r"\baged?\s*:?\s*$", re.IGNORECASE)


def age(text: str) -> Age | None:
    """The patient's age: "70-year-old", "45 yo", "75 y.o.", "18yo", "4-month-old"."""
    for match in _AGE.finditer(text):
        unit_text = match["u"].lower()
        following = text[match.end(): match.end() + 25].lower()
        is_age = "old" in match.group(0).lower() or re.fullmatch(r"y\.?\s?o\.?|yo", unit_text) or \
            _AGE_LABEL.search(text[max(0, match.start() - 12): match.start()])
        if not is_age and not re.match(r"\s*(?:old|male|female|man|woman|boy|girl|patient)", following):
            continue
        unit = {"y": "a", "m": "mo", "w": "wk", "d": "d"}[unit_text[0]]
        return Age(int(match["n"]), unit, match.start(), match.end())
    return None


def sex(text: str, near: int = 0) -> tuple[str, int, int] | None:
    """The patient's sex from the first word naming it after the age (or anywhere)."""
    window = text[near: near + 60] if near else ""
    for source, base in ((window, near), (text, 0)):
        for match in _SEX.finditer(source):
            word = match.group(0)
            if len(word) == 1 and (source is text or not word.isupper()):
                continue
            return ("female" if match["f"] else "male", base + match.start(), base + match.end())
    return None


_DURATION = re.compile(
    r"(?:\bfor\s(?:the\s)?(?:last\s|past\s)?|\bx\s?|\bc/o\s|\bsince\s|\bover\s(?:the\s)?(?:last\s|past\s)?)"
    r"(?P<n>\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten)\s?(?P<u>d|days?|wks?|weeks?|mos?|months?|y|yrs?|years?)\b",
    re.IGNORECASE,
)
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}


def duration(text: str) -> tuple[float, str] | None:
    """A complaint's duration: "for the last 6 months", "x 6 months", "c/o 5d of"."""
    match = _DURATION.search(text)
    if not match:
        return None
    number = match["n"].lower()
    value = _WORDS.get(number) or int(number)
    unit_text = match["u"].lower()
    unit = {"d": "d", "w": "wk", "m": "mo", "y": "a"}[unit_text[0]]
    return value, unit
