"""Images for the SR: loading a folder, ordering, what a series says, and the figure matching rule."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from caseconv.dicom import build_sr, load_images
from caseconv.dicom.images import (
    Series,
    acquisition_sequences,
    describe,
    figure_series,
    finding_images,
    matches,
    ordered,
    plane_of_orientation,
)
from caseconv.model import CaseReport, Figure, Finding, Span

MR_SMALL = Path(get_testdata_file("MR_small.dcm"))
TEXT = "Fig 1. Coronal STIR image shows a mass. Fig 2. Axial T1W post contrast. Edema."


def mr(**changes) -> Dataset:
    ds = pydicom.dcmread(MR_SMALL, stop_before_pixels=True)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def series(**kw) -> Series:
    defaults = {"uid": "1.2.3", "modality": "MR", "plane": "coronal", "sequences": frozenset({"STIR"}),
                "contrast": None, "instances": ()}
    return Series(**{**defaults, **kw})


def figure(**kw) -> Figure:
    defaults = {"label": "Fig 1", "caption": "Fig 1. Coronal STIR", "span": Span(0, 5),
                "sequences": ("STIR",), "planes": ("coronal",), "modality": "MR"}
    return Figure(**{**defaults, **kw})


# --- what a series says ---------------------------------------------------------------------

@pytest.mark.parametrize(("orientation", "plane"), [
    ([1, 0, 0, 0, 1, 0], "axial"), ([1, 0, 0, 0, 0, -1], "coronal"), ([0, 1, 0, 0, 0, -1], "sagittal"),
    ([1, 0, 0, 0, 0.94, -0.34], "axial"),  # 20 degrees off: still axial
    ([1, 0, 0, 0, 0.7071, -0.7071], None),  # 45 degrees: oblique
    ([0, 0, 0, 0, 0, 0], None),
])
def test_plane_from_orientation(orientation, plane):
    assert plane_of_orientation(orientation) == plane


def test_mr_small_is_an_axial_t2_weighted_spin_echo():
    described = describe([mr()])
    assert (described.modality, described.plane, described.sequences) == ("MR", "axial", {"T2W"})
    assert described.contrast is None  # an empty Contrast/Bolus Agent says nothing


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"ScanningSequence": "SE", "RepetitionTime": 500, "EchoTime": 15}, {"T1W"}),
    ({"ScanningSequence": ["SE", "IR"], "InversionTime": 150, "RepetitionTime": 4000, "EchoTime": 60},
     {"STIR"}),
    ({"ScanningSequence": ["SE", "IR"], "InversionTime": 2500, "RepetitionTime": 9000, "EchoTime": 120},
     {"FLAIR"}),
    ({"ScanningSequence": "GR", "EchoTime": 20, "RepetitionTime": 600}, {"GRE", "T2*"}),
    ({"ScanningSequence": "SE", "RepetitionTime": 1500, "EchoTime": 50}, set()),  # intermediate
    ({"ScanningSequence": "SE", "RepetitionTime": 500, "EchoTime": 15, "ScanOptions": "FS"},
     {"T1W", "fat-saturated"}),
])
def test_sequences_from_acquisition_attributes(attributes, expected):
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    assert acquisition_sequences(ds) == expected


def test_description_wins_over_attributes_and_gives_plane_without_orientation():
    ds = mr(SeriesDescription="sag_FLAIR_fs", ProtocolName="")
    del ds.ImageOrientationPatient
    described = describe([ds])
    assert described.plane == "sagittal"
    assert described.sequences == {"FLAIR", "fat-saturated"}  # not MR_small's TR/TE T2W


@pytest.mark.parametrize(("description", "agent", "contrast"), [
    ("AX T1 +C", "", "post"), ("T1 post gad", "", "post"), ("T1 pre", "", "pre"),
    ("CT non-contrast", "", "pre"), ("T1", "Gadovist", "post"), ("T1", "", None),
])
def test_contrast_from_agent_or_description(description, agent, contrast):
    assert describe([mr(SeriesDescription=description, ContrastBolusAgent=agent)]).contrast == contrast


def test_t2_star_description_is_not_t2_weighted():
    assert describe([mr(SeriesDescription="AX T2* GRE")]).sequences == {"T2*", "GRE"}


# --- the matching rule ----------------------------------------------------------------------

def test_a_caption_naming_neither_sequence_nor_plane_matches_nothing():
    assert not matches(figure(sequences=(), planes=()), series())


def test_every_named_criterion_must_hold():
    assert matches(figure(), series())
    assert not matches(figure(), series(plane="axial"))
    assert not matches(figure(), series(plane=None))  # plane unknown: no evidence for it
    assert not matches(figure(), series(sequences=frozenset({"T1W"})))
    assert not matches(figure(), series(modality="CT"))
    assert matches(figure(sequences=("T2W", "STIR")), series())  # one shared sequence is enough
    assert matches(figure(sequences=()), series(sequences=frozenset()))  # plane alone
    assert matches(figure(modality="DX", sequences=(), planes=("coronal",)), series(modality="CR"))


def test_contrast_excludes_only_the_known_opposite():
    assert not matches(figure(contrast="post"), series(contrast="pre"))
    assert not matches(figure(contrast="without"), series(contrast="post"))
    assert matches(figure(contrast="post"), series(contrast=None))
    assert matches(figure(contrast="pre and post"), series(contrast="pre"))


def span(text: str) -> Span:
    start = TEXT.index(text)
    return Span(start, start + len(text))


def report_with_figures() -> CaseReport:
    """Fig 1 lists the mass among its findings; the edema names Fig 2 as its source."""
    fig1, fig2 = "Fig 1. Coronal STIR image shows a mass.", "Fig 2. Axial T1W post contrast."
    return CaseReport(
        case="images", text=TEXT,
        findings=(Finding("mass", span("mass")), Finding("Edema", span("Edema"), source="Fig 2")),
        figures=(Figure("Fig 1", fig1, span(fig1), ("STIR",), ("coronal",), None, "MR", (0,)),
                 Figure("Fig 2", fig2, span(fig2), ("T1W",), ("axial",), "post", "MR", ())),
    )


def study() -> list[Dataset]:
    stir = [mr(SeriesDescription="COR STIR", ImageOrientationPatient=[1, 0, 0, 0, 0, -1],
               SeriesInstanceUID="1.2.826.0.1.3680043.2.1.2", SeriesNumber=2,
               SOPInstanceUID=f"1.2.826.0.1.3680043.2.1.2.{i}", InstanceNumber=i) for i in (2, 1)]
    t1 = mr(SeriesDescription="AX T1 +C", SeriesInstanceUID="1.2.826.0.1.3680043.2.1.3", SeriesNumber=3,
            SOPInstanceUID="1.2.826.0.1.3680043.2.1.3.1")
    return [t1, *stir, mr()]


def test_figures_find_their_series_and_findings_their_images():
    report = report_with_figures()
    images = ordered(study())
    assert [[s.uid[-1] for s in found] for found in figure_series(report, images)] == [["2"], ["3"]]
    found = finding_images(report, images)
    assert [ds.SOPInstanceUID[-3:] for ds in found[0]] == ["2.1", "2.2"]  # by instance number
    assert [ds.SOPInstanceUID[-3:] for ds in found[1]] == ["3.1"]  # named by Finding.source


def test_order_is_fixed_and_duplicates_count_once():
    images = study()
    first = [ds.SOPInstanceUID for ds in ordered(images)]
    assert [ds.SOPInstanceUID for ds in ordered(reversed(images + [copy.deepcopy(images[0])]))] == first
    assert first[0] == mr().SOPInstanceUID  # series 1 first


def test_images_of_two_patients_or_without_uids_are_refused():
    with pytest.raises(ValueError, match="more than one patient"):
        ordered([mr(), mr(PatientID="other", SOPInstanceUID="1.2.3.4")])
    broken = mr()
    del broken.StudyInstanceUID
    with pytest.raises(ValueError, match="StudyInstanceUID"):
        ordered([broken])
    with pytest.raises(ValueError, match="empty"):
        ordered([])


def test_empty_image_list_is_an_imageless_sr():
    report = report_with_figures()
    assert build_sr(report, images=[]).SOPInstanceUID == build_sr(report).SOPInstanceUID


# --- loading a folder -----------------------------------------------------------------------

def test_load_images_reads_images_and_says_what_it_skipped(tmp_path: Path):
    shutil.copy(MR_SMALL, tmp_path / "a.dcm")
    (tmp_path / "sub").mkdir()
    shutil.copy(MR_SMALL, tmp_path / "sub" / "copy-of-a")  # no extension needed; same instance
    (tmp_path / "notes.txt").write_text("not DICOM")
    sr = build_sr(report_with_figures())
    sr.save_as(tmp_path / "report.dcm", enforce_file_format=True)
    no_uid = Dataset()
    no_uid.SOPClassUID = pydicom.uid.MRImageStorage
    no_uid.SOPInstanceUID = generate_uid()
    no_uid.file_meta = pydicom.dataset.FileMetaDataset()
    no_uid.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    no_uid.save_as(tmp_path / "no-study.dcm", enforce_file_format=True)
    loaded = load_images(tmp_path)
    assert [ds.SOPInstanceUID for ds in loaded.images] == [mr().SOPInstanceUID]
    assert "PixelData" not in loaded.images[0]
    reasons = "\n".join(loaded.skipped)
    assert len(loaded.skipped) == 4
    for expected in ("notes.txt: not read as DICOM", "report.dcm: not an image",
                     "no-study.dcm: no StudyInstanceUID, SeriesInstanceUID", "a second copy"):
        assert expected in reasons
