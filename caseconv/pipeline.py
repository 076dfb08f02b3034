"""The pipeline as library calls: read -> parse -> code -> write, one stage after another.

`caseconv.extract` and `caseconv.convert` are these functions; the CLI is a thin layer
over them. Heavy libraries (medspaCy, fhir.resources, highdicom) load on first use.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from caseconv.model import CaseReport

_UMASK = os.umask(0)
os.umask(_UMASK)
#: Largest case file read by default (bytes): case reports are a few kB.
MAX_BYTES = 5_000_000


class CaseError(ValueError):
    """A case that cannot be converted; ``str()`` is one line naming the file and the problem."""


def read_case(path: Path, *, max_bytes: int = MAX_BYTES) -> tuple[str, list[str]]:
    """The text of a case file and any warnings about how it was read."""
    from caseconv.parse.text import InputError, decode

    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CaseError(f"{path}: larger than {max_bytes} bytes ({size})")
        data = path.read_bytes()
    except OSError as error:
        raise CaseError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return decode(data)
    except InputError as error:
        raise CaseError(f"{path}: {error}") from None


def extract(text: str, case: str = "case", *, mappings: tuple[str, ...] = (),
            strictness: str = "ignore") -> CaseReport:
    """Parse and code one case report's text."""
    from caseconv.coding import code_report, load_tables
    from caseconv.parse import parse

    report = parse(text, case, mappings=mappings)
    return code_report(report, load_tables(mappings), strictness)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Conversion:
    """What `convert` produces for one case."""

    report: CaseReport
    bundle: dict[str, Any]
    sr: Any


def convert(text: str, case: str = "case", *, fhir_version: str = "R4", bundle_type: str = "collection",
            sr_template: str = "1500", mappings: tuple[str, ...] = (), issued: datetime | None = None) -> Conversion:
    """Parse, code and write one case: the report, its FHIR bundle and its SR dataset."""
    from caseconv.dicom import build_sr
    from caseconv.fhir import build_bundle

    report = extract(text, case, mappings=mappings)
    bundle = build_bundle(report, version=fhir_version, bundle_type=bundle_type, issued=issued)
    sr = build_sr(report, template=sr_template, content_datetime=issued)
    return Conversion(report, bundle, sr)


def write_outputs(outputs: dict[Path, bytes], *, overwrite: bool = False) -> None:
    """Write all files or none: each to a temporary file beside it, then rename them all."""
    for path in outputs:
        if path.exists() and not overwrite:
            raise CaseError(f"{path}: exists (use --overwrite to replace it)")
    temporary: dict[Path, str] = {}
    try:
        for path, data in outputs.items():
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temporary[path] = name
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.chmod(name, 0o666 & ~_UMASK)
        for path, name in temporary.items():
            os.replace(name, path)
    except OSError as error:
        for name in temporary.values():
            if os.path.exists(name):
                os.unlink(name)
        raise CaseError(f"{next(iter(outputs)).parent}: cannot write: {error.strerror or error}") from None


def convert_file(path: Path, outdir: Path, *, fhir_version: str = "R4", bundle_type: str = "collection",
                 sr_template: str = "1500", mappings: tuple[str, ...] = (), overwrite: bool = False,
                 max_bytes: int = MAX_BYTES) -> tuple[CaseReport, list[Path], list[str]]:
    """Convert one case file into ``outdir``; returns the report, the files written and warnings."""
    from pydicom.filebase import DicomBytesIO

    from caseconv.fhir import dumps

    text, warnings = read_case(path, max_bytes=max_bytes)
    stem = safe_stem(path)
    try:
        result = convert(text, stem, fhir_version=fhir_version, bundle_type=bundle_type,
                         sr_template=sr_template, mappings=mappings)
    except ValueError as error:
        raise CaseError(f"{path}: {error}") from None
    buffer = DicomBytesIO()
    result.sr.save_as(buffer, enforce_file_format=True)
    outputs = {outdir / f"{stem}.fhir.json": dumps(result.bundle).encode("utf-8"),
               outdir / f"{stem}.sr.dcm": buffer.getvalue()}
    write_outputs(outputs, overwrite=overwrite)
    if not result.report.findings:
        warnings.append("no imaging findings recognised")
    return result.report, list(outputs), warnings


def safe_stem(path: Path) -> str:
    """An output name from the input's stem: no separators, no control characters."""
    stem = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in path.stem).strip("._") or "case"
    return stem[:100]
