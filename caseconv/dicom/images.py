"""The images of a study, when the caller has them: loading, ordering, and figure matching.

A case report names what its figures show ("Fig 3. STIR coronal ..."), never which DICOM
series. With the study's images at hand, `figure_series()` finds for each figure the
series that fit its caption, by this rule (documented here and in the report):

- a figure is matched only when its caption names a sequence or a plane: a caption that
  names neither cannot tell one series from another, and a guess would be a false reference;
- modality: the series' Modality must equal the figure's (DX and CR count as one);
- plane: a series' plane comes from Image Orientation (Patient) (the normal's nearest axis,
  when within ~37 degrees; oblique otherwise), else from words in its Series Description
  or Protocol Name; a caption's plane must equal it;
- sequence: a series' sequences are the caption vocabulary (`mappings/parse_rules.yaml`,
  the table the parser reads captions with) found in Series Description / Protocol Name;
  when those name none, they are derived from the acquisition attributes (`_ACQUISITION`):
  ScanningSequence GR -> GRE, IR with short/long TI -> STIR/FLAIR, spin echo TR/TE ->
  T1W/T2W, ScanOptions FS -> fat-saturated, ImageType LOCALIZER -> scout, SequenceName
  as free text. A caption's sequences must share one with the series';
- contrast: a caption "post"/"with" excludes a series known to be pre-contrast and the
  reverse; a series' contrast is known from Contrast/Bolus Agent or its description.

Every criterion the caption names must hold; what it leaves out is not checked. A figure
matches every series that fits (pre- and post-contrast pairs give two).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pydicom
from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from caseconv.model import CaseReport, Figure

#: The attributes an instance needs to be evidence (and referenced) in an SR.
REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")

#: DICOM series-description abbreviations the caption vocabulary does not have.
_DESCRIPTION_PLANES = {"axial": ("ax", "axl", "tra", "trans", "tx"), "coronal": ("cor",),
                       "sagittal": ("sag",)}
_POST = re.compile(r"(?:\+\s*c\b|\bc\s*\+|\bpost\b|\bgad\w*|\bgd\b|\bcontrast\b|\bce\b)", re.I)
_PRE = re.compile(r"\b(?:pre|non[- ]?contrast|without|plain|native)\b", re.I)
_RADIOGRAPHY = {"CR": "DX", "DX": "DX", "RG": "DX"}

#: Acquisition-attribute thresholds (ms), textbook MR weighting: TR/TE of spin echo,
#: TI of inversion recovery, TE of gradient echo for T2*.
_ACQUISITION = {"t1_tr_max": 1000.0, "t1_te_max": 30.0, "t2_tr_min": 2000.0, "t2_te_min": 70.0,
                "stir_ti_max": 300.0, "flair_ti_min": 1500.0, "t2star_te_min": 15.0}


@dataclass(frozen=True)
class Series:
    """What the images of one series say about how they were acquired."""

    uid: str
    modality: str | None
    plane: str | None
    sequences: frozenset[str]
    contrast: str | None  # "post", "pre" or None (unknown)
    instances: tuple[Dataset, ...] = field(compare=False, repr=False)


@dataclass
class Loaded:
    """The images read from a folder and a line per file left out (not DICOM, no UIDs)."""

    images: list[Dataset] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_images(folder: Path | str) -> Loaded:
    """Every DICOM image under `folder` (recursively), read without pixel data.

    Files that are not DICOM, DICOMDIRs, instances lacking the UIDs of `REQUIRED` and
    non-images (no Rows) are skipped with a reason; two files of one SOP Instance UID
    count once. The CLI's `--images DIR` is meant to call this.
    """
    loaded = Loaded()
    seen: set[str] = set()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            loaded.skipped.append(f"{path}: not read as DICOM ({exc.__class__.__name__})")
            continue
        missing = [k for k in REQUIRED if not ds.get(k)]
        if missing:
            loaded.skipped.append(f"{path}: no {', '.join(missing)}")
        elif "Rows" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
            loaded.skipped.append(f"{path}: not an image ({ds.SOPClassUID.name})")
        elif ds.SOPInstanceUID in seen:
            loaded.skipped.append(f"{path}: a second copy of {ds.SOPInstanceUID}")
        else:
            seen.add(ds.SOPInstanceUID)
            loaded.images.append(ds)
    return loaded


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf


def ordered(images: Iterable[Dataset]) -> list[Dataset]:
    """The images checked and in a fixed order: latest study first, then series and instance.

    The first image's study is the SR's (highdicom copies patient and study from it);
    the order never depends on the order the caller passed them in.
    """
    unique: dict[str, Dataset] = {}
    for ds in images:
        missing = [k for k in REQUIRED if not ds.get(k)]
        if missing:
            raise ValueError(f"image {ds.get('SOPInstanceUID', '?')} has no {', '.join(missing)}")
        unique.setdefault(str(ds.SOPInstanceUID), ds)
    if not unique:
        raise ValueError("images is empty: pass None for an SR without images")
    patients = sorted({str(ds.get("PatientID", "")) for ds in unique.values()})
    if len(patients) > 1:
        raise ValueError(f"images of more than one patient: Patient IDs {', '.join(map(repr, patients))}")
    studies: dict[str, str] = {}
    for ds in unique.values():
        when = f"{ds.get('StudyDate', '') or ''}{ds.get('StudyTime', '') or ''}"
        studies[str(ds.StudyInstanceUID)] = max(studies.get(str(ds.StudyInstanceUID), ""), when)
    rank = {uid: i for i, uid in enumerate(sorted(studies, key=lambda u: (studies[u], u), reverse=True))}
    return sorted(unique.values(), key=lambda ds: (
        rank[str(ds.StudyInstanceUID)], _number(ds.get("SeriesNumber")), str(ds.SeriesInstanceUID),
        _number(ds.get("InstanceNumber")), str(ds.SOPInstanceUID)))


def _orientation(ds: Dataset) -> list[float] | None:
    value = ds.get("ImageOrientationPatient")
    if value is None:
        for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            try:
                value = ds[groups][0].PlaneOrientationSequence[0].ImageOrientationPatient
                break
            except (KeyError, AttributeError, IndexError):
                continue
    try:
        numbers = [float(v) for v in value] if value is not None else []
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == 6 else None


def plane_of_orientation(orientation: Sequence[float]) -> str | None:
    """Axial, coronal or sagittal: the patient axis nearest the image normal (None: oblique)."""
    r, c = orientation[:3], orientation[3:]
    normal = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    length = math.sqrt(sum(v * v for v in normal))
    if length == 0:
        return None
    axis = max(range(3), key=lambda i: abs(normal[i]))
    if abs(normal[axis]) / length < 0.8:  # more than ~37 degrees off every plane
        return None
    return ("sagittal", "coronal", "axial")[axis]


def _word_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """Any of `names` as a whole word, longest first (as the parser reads captions)."""
    escaped = sorted((re.escape(n) for n in names), key=len, reverse=True)
    return re.compile(r"(?<![\w*])(?:" + "|".join(escaped) + r")(?![\w])", re.IGNORECASE)


@cache
def _vocabulary() -> tuple[dict[str, re.Pattern[str]], dict[str, re.Pattern[str]]]:
    """The caption vocabulary (parser's table) plus DICOM plane abbreviations, as patterns."""
    from caseconv.parse.nlp import parse_rules

    rules = parse_rules()
    sequences = {name: _word_pattern(names) for name, names in rules["sequences"].items()}
    planes = {name: _word_pattern([*names, *_DESCRIPTION_PLANES.get(name, ())])
              for name, names in rules["planes"].items()}
    return sequences, planes


def _description(ds: Dataset) -> str:
    words = " ".join(str(ds.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName"))
    return words.replace("_", " ")


def _values(ds: Dataset, keyword: str) -> set[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return set()
    items = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    return {str(v).upper() for v in items}


def acquisition_sequences(ds: Dataset) -> set[str]:
    """Sequence names read from the acquisition attributes (see `_ACQUISITION`)."""
    found: set[str] = set()
    scanning = _values(ds, "ScanningSequence")
    tr, te, ti = (_number(ds.get(k)) for k in ("RepetitionTime", "EchoTime", "InversionTime"))
    limits = _ACQUISITION
    if "GR" in scanning:
        found.add("GRE")
        if te != math.inf and te >= limits["t2star_te_min"]:
            found.add("T2*")
    if "IR" in scanning and ti != math.inf:
        if ti <= limits["stir_ti_max"]:
            found.add("STIR")
        elif ti >= limits["flair_ti_min"]:
            found.add("FLAIR")
    if "SE" in scanning and "IR" not in scanning and math.inf not in (tr, te):
        if tr <= limits["t1_tr_max"] and te <= limits["t1_te_max"]:
            found.add("T1W")
        elif tr >= limits["t2_tr_min"] and te >= limits["t2_te_min"]:
            found.add("T2W")
    if "FS" in _values(ds, "ScanOptions"):
        found.add("fat-saturated")
    if "LOCALIZER" in _values(ds, "ImageType"):
        found.add("scout")
    return found


def describe(instances: Sequence[Dataset]) -> Series:
    """One series' modality, plane, sequences and contrast, from its first instance."""
    ds = instances[0]
    sequence_words, plane_words = _vocabulary()
    text = _description(ds)
    orientation = _orientation(ds)
    plane = plane_of_orientation(orientation) if orientation else None
    if plane is None:
        named = [name for name, pattern in plane_words.items() if pattern.search(text)]
        plane = named[0] if len(named) == 1 else None
    sequences = {name for name, pattern in sequence_words.items() if pattern.search(text)}
    sequence_name = str(ds.get("SequenceName", "") or "").replace("_", " ")
    sequences |= {name for name, pattern in sequence_words.items() if pattern.search(sequence_name)}
    if "T2*" in sequences and not re.search(r"t2(?!\*)", f"{text} {sequence_name}", re.I):
        sequences.discard("T2W")  # "t2*" also matches the T2W words, as in captions
    if not sequences - {"fat-saturated"}:
        sequences |= acquisition_sequences(ds)
    contrast = None
    if str(ds.get("ContrastBolusAgent", "") or "").strip():
        contrast = "post"
    elif _PRE.search(text):  # before _POST: "non-contrast" names contrast too
        contrast = "pre"
    elif _POST.search(text):
        contrast = "post"
    modality = str(ds.get("Modality", "") or "") or None
    return Series(str(ds.SeriesInstanceUID), modality, plane, frozenset(sequences), contrast,
                  tuple(instances))


def series_of(images: Sequence[Dataset]) -> list[Series]:
    """The series of `images` (already `ordered`), in order of first appearance."""
    by_uid: dict[str, list[Dataset]] = {}
    for ds in images:
        by_uid.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    return [describe(instances) for instances in by_uid.values()]


def matches(figure: Figure, series: Series) -> bool:
    """Whether `series` fits everything `figure`'s caption names (rule in the module doc)."""
    if not figure.sequences and not figure.planes:
        return False
    if figure.modality and series.modality and (
            _RADIOGRAPHY.get(figure.modality, figure.modality)
            != _RADIOGRAPHY.get(series.modality, series.modality)):
        return False
    if figure.planes and series.plane not in figure.planes:
        return False
    if figure.sequences and not series.sequences & set(figure.sequences):
        return False
    if figure.contrast in ("post", "with") and series.contrast == "pre":
        return False
    return not (figure.contrast in ("pre", "without") and series.contrast == "post")


def figure_series(report: CaseReport, images: Sequence[Dataset]) -> list[list[Series]]:
    """For each figure of `report`, the series of `images` that fit its caption."""
    all_series = series_of(images)
    return [[s for s in all_series if matches(figure, s)] for figure in report.figures]


def finding_images(report: CaseReport, images: Sequence[Dataset]) -> dict[int, list[Dataset]]:
    """For each finding index, the instances of the series its figures matched.

    A finding is shown by a figure when the figure lists it (`Figure.findings`) or the
    finding names the figure as its source (`Finding.source`).
    """
    result: dict[int, list[Dataset]] = {}
    for figure, matched in zip(report.figures, figure_series(report, images), strict=True):
        if not matched:
            continue
        shown = set(figure.findings)
        shown |= {i for i, f in enumerate(report.findings) if f.source == figure.label}
        for index in sorted(i for i in shown if 0 <= i < len(report.findings)):
            known = result.setdefault(index, [])
            uids = {str(ds.SOPInstanceUID) for ds in known}
            known.extend(ds for s in matched for ds in s.instances if str(ds.SOPInstanceUID) not in uids)
    order = {str(ds.SOPInstanceUID): i for i, ds in enumerate(images)}
    return {i: sorted(found, key=lambda ds: order[str(ds.SOPInstanceUID)])
            for i, found in sorted(result.items())}
