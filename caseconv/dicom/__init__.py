"""CaseReport -> DICOM Structured Report (and, in `sr2fhir`, SR -> FHIR Observations).

`build_sr(report)` writes TID 1500 Imaging Measurement Report as a Comprehensive 3D SR:
one measurement group (TID 1501) per finding, with its sites, laterality, measurements
(TID 300) and presence; the diagnosis and differentials as report-level qualitative
evaluations. `template="2000"` writes a Basic Diagnostic Imaging Report (Enhanced SR)
with History, Findings and Impressions sections instead.

With images (`images=[Dataset, ...]`, e.g. `load_images(folder).images`): patient and
study come from the images, which are listed as evidence; each figure is matched to the
series its caption names (rule in `caseconv.dicom.images`), and the findings it shows
reference those series' instances (TID 1500: "Source of Measurement" in the group;
TID 2000: "Best illustration of finding" under the finding's text).

No images (issue 2). A case report comes without its images, so the SR references no
image: measurements carry no image region, and no evidence sequence names an instance.
highdicom insists on an evidence dataset to copy patient and study from; we give it a
carrier of the derived identifiers and remove what it derives from it
(`caseconv.dicom.document`). Study Instance UID and Patient ID are those of
`caseconv.ids`, shared with the FHIR ImagingStudy.

Deterministic: same report, same bytes. The clock is never read; the content date is
`DEFAULT_CONTENT_DATETIME` (1970-01-01 00:00) unless `content_datetime` is given.

Importing this package costs about a second (highdicom), so `caseconv` does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom

from caseconv.dicom.document import DEFAULT_CONTENT_DATETIME, assemble
from caseconv.model import CaseReport

TEMPLATES = ("1500", "2000")


def build_sr(report: CaseReport, *, template: str = "1500",
             content_datetime: datetime | None = None,
             images: Iterable[pydicom.Dataset] | None = None) -> pydicom.Dataset:
    """The SR document of a case, as a highdicom SR dataset ready to write.

    `images`: the study's instances (pixel data not needed), in any order; None or
    empty for the usual imageless SR. `content_datetime` defaults to the images' study
    date and time, else `DEFAULT_CONTENT_DATETIME`.
    """
    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {', '.join(TEMPLATES)}, not {template!r}")
    evidence = None
    references: dict[int, list[pydicom.Dataset]] = {}
    if images is not None:
        images = list(images)
    if images:
        from caseconv.dicom.images import finding_images, ordered

        evidence = ordered(images)
        references = finding_images(report, evidence)
    if template == "1500":
        from caseconv.dicom.tid1500 import measurement_report

        content = measurement_report(report, references)
    else:
        from caseconv.dicom.tid2000 import diagnostic_imaging_report

        content = diagnostic_imaging_report(report, references)
    return assemble(report, content, template, content_datetime, evidence)


def write_sr(report: CaseReport, path: Path | str, **kw: Any) -> None:
    """Write `build_sr(report, **kw)` to `path` as a DICOM Part 10 file."""
    build_sr(report, **kw).save_as(path, enforce_file_format=True)


def sr_bytes(report: CaseReport, **kw: Any) -> bytes:
    """The Part 10 bytes of `build_sr(report, **kw)` (for tests and pipes)."""
    buffer = BytesIO()
    build_sr(report, **kw).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def load_images(folder: Path | str) -> Any:
    """`caseconv.dicom.images.load_images`: the DICOM images under a folder, and what was skipped."""
    from caseconv.dicom.images import load_images as load

    return load(folder)


__all__ = ["DEFAULT_CONTENT_DATETIME", "TEMPLATES", "build_sr", "load_images", "sr_bytes", "write_sr"]
