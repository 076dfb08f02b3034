"""The pipeline as library calls: read -> parse -> code -> write, one stage after another.

`caseconv.extract` and `caseconv.convert` are these functions; the CLI is a thin layer
over them. Heavy libraries (medspaCy, fhir.resources, highdicom) load on first use.

Input checks live here so that every caller (CLI, batch workers, Python users) refuses
the same files with the same one-line message naming the file, and output is written
all-or-nothing so that no failure or interruption leaves a partial file behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from caseconv.model import CaseReport

_UMASK = os.umask(0)
os.umask(_UMASK)
#: Largest case file read by default (bytes): case reports are a few kB.
MAX_BYTES = 5_000_000
#: Write errors that every later case would hit too: a batch stops on them.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
#: Control characters that plain text does not contain (tab, newlines, form feed and ESC aside).
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}
#: Characters that FHIR strings may not hold (controls; whitespace other than space, tab, CR, LF),
#: replaced one for one so that every offset stays: line-like ones by a line break, the rest by a space.
_UNUSUAL = {**{c: " " for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}, 0x7F: " ", 0x0B: "\n", 0x85: "\n",
            0x2028: "\n", 0x2029: "\n", 0x1680: " ", **{c: " " for c in range(0x2000, 0x200B)},
            0x202F: " ", 0x205F: " ", 0x3000: " "}
#: Warning given when nothing of a case report was recognised.
NO_CONTENT = "no recognisable case content (no findings, diagnoses or procedures)"


class CaseError(ValueError):
    """A case that cannot be converted; ``str()`` is one line naming the file and the problem.

    ``fatal`` marks errors of the output folder (disk full, read-only) that every later
    case would hit as well, so a batch stops instead of failing each case in turn.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def check_text(data: bytes, name: str, *, max_bytes: int = MAX_BYTES) -> tuple[str, list[str]]:
    """Decode a case file's bytes after the input checks; ``name`` is used in messages."""
    from caseconv.parse.text import InputError, decode

    if len(data) > max_bytes:
        raise CaseError(f"{name}: larger than {max_bytes} bytes ({len(data)}); see --max-bytes")
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark (Windows "Unicode")
        try:
            data = data.decode("utf-16").encode("utf-8")
            warnings.append("read as UTF-16")
        except UnicodeDecodeError:
            pass
    try:
        text, more = decode(data)
    except InputError as error:
        raise CaseError(f"{name}: {error}") from None
    head = text[:4096]
    if sum(ord(c) in _CONTROL for c in head) > len(head) // 10:
        raise CaseError(f"{name}: binary data (control characters), not a text file")
    if not text.strip():
        raise CaseError(f"{name}: the file is empty (whitespace only)")
    replaced = sum(1 for c in text if ord(c) in _UNUSUAL and c != "\f")  # page breaks are expected
    if replaced or "\f" in text:
        text = text.translate(_UNUSUAL)
    if replaced:
        more.append(f"{replaced} control or unusual space characters read as spaces or line breaks")
    return text, warnings + more


def read_case(path: Path, *, max_bytes: int = MAX_BYTES) -> tuple[str, list[str]]:
    """The text of a case file and any warnings about how it was read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CaseError(f"{path}: larger than {max_bytes} bytes ({size}); see --max-bytes")
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)  # the file may grow between stat and read
    except OSError as error:
        raise CaseError(f"{path}: cannot read: {error.strerror or error}") from None
    return check_text(data, str(path), max_bytes=max_bytes)


def extract(text: str, case: str = "case", *, mappings: tuple[str, ...] = (),
            strictness: str = "ignore") -> CaseReport:
    """Parse and code one case report's text."""
    from caseconv.coding import code_report, load_tables
    from caseconv.parse import parse

    report = parse(text, case, mappings=mappings)
    return code_report(report, load_tables(mappings), strictness)  # type: ignore[arg-type]


def content_warnings(report: CaseReport) -> list[str]:
    """Warnings about what was (not) found: said, never papered over with invented findings."""
    if not (report.findings or report.diagnoses or report.procedures):
        return [NO_CONTENT]
    if not report.findings:
        return ["no imaging findings recognised"]
    return []


@dataclass(frozen=True)
class Conversion:
    """What `convert` produces for one case; ``sr`` is None when there is nothing to report in one."""

    report: CaseReport
    bundle: dict[str, Any] | None
    sr: Any
    #: the HL7 v2 ORU^R01 message, when asked for
    message: str | None = None

    def files(self) -> dict[str, bytes]:
        """The serialised outputs by suffix: ``fhir.json`` and ``sr.dcm``, each when there is one."""
        from caseconv.fhir import dumps

        outputs: dict[str, bytes] = {}
        if self.bundle is not None:
            outputs["fhir.json"] = dumps(self.bundle).encode("utf-8")
        if self.sr is not None:
            from pydicom.filebase import DicomBytesIO

            buffer = DicomBytesIO()
            self.sr.save_as(buffer, enforce_file_format=True)
            outputs["sr.dcm"] = buffer.getvalue()
        if self.message is not None:
            outputs["hl7"] = self.message.encode("utf-8")
        return outputs


def convert(text: str, case: str = "case", *, fhir_version: str = "R4", bundle_type: str = "collection",
            sr_template: str = "1500", mappings: tuple[str, ...] = (), issued: datetime | None = None) -> Conversion:
    """Parse, code and write one case: the report, its FHIR bundle and its SR dataset.

    A report with neither findings nor diagnoses gets no SR (``sr`` is None): an SR of
    nothing would be an invented document; the bundle still records patient and study.
    """
    from caseconv.dicom import build_sr
    from caseconv.fhir import build_bundle

    report = extract(text, case, mappings=mappings)
    bundle = build_bundle(report, version=fhir_version, bundle_type=bundle_type, issued=issued)
    sr = build_sr(report, template=sr_template, content_datetime=issued) \
        if report.findings or report.diagnoses else None
    return Conversion(report, bundle, sr)


def _write_file(handle: int, data: bytes) -> None:
    """Write all of ``data`` to an open descriptor (a seam for fault tests)."""
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
        stream.flush()


def _place(temporary: str, path: Path, overwrite: bool) -> None:
    """Move a finished temporary file to ``path``; without ``overwrite`` never replace a file."""
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # atomic and fails if ``path`` exists, even if it appeared just now
    except FileExistsError:
        raise CaseError(f"{path}: exists (use --overwrite to replace it)") from None
    except OSError as error:
        if error.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}:
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise CaseError(f"{path}: exists (use --overwrite to replace it)") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def write_outputs(outputs: dict[Path, bytes], *, overwrite: bool = False) -> None:
    """Write all files or none: each to a temporary file beside it, then move them all.

    If anything fails (a write, a move, an existing file, Ctrl-C) the temporary files and
    any output already moved are removed again, so a case has both outputs or neither.
    """
    if not outputs:
        return
    if not overwrite:
        for path in outputs:
            if path.exists():
                raise CaseError(f"{path}: exists (use --overwrite to replace it)")
    temporary: dict[Path, str] = {}
    placed: list[Path] = []
    try:
        for path, data in outputs.items():
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temporary[path] = name
            _write_file(handle, data)
            os.chmod(name, 0o666 & ~_UMASK)
        for path, name in temporary.items():
            _place(name, path, overwrite)
            placed.append(path)
    except BaseException as error:
        for name in temporary.values():
            if os.path.exists(name):
                os.unlink(name)
        for path in placed:
            path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            where = next(iter(outputs)).parent
            raise CaseError(f"{where}: cannot write: {error.strerror or error}",
                            fatal=error.errno in FATAL_ERRNOS) from None
        raise


#: The file suffix of each output kind.
SUFFIXES = {"fhir": "fhir.json", "sr": "sr.dcm", "hl7": "hl7"}


def output_paths(outdir: Path, stem: str, outputs: tuple[str, ...] = ("fhir", "sr"),
                 hl7_dir: Path | None = None) -> dict[str, Path]:
    """Where the outputs of case ``stem`` go, by suffix (HL7 v2 messages in their own folder if given)."""
    return {SUFFIXES[kind]: (hl7_dir if kind == "hl7" and hl7_dir else outdir) / f"{stem}.{SUFFIXES[kind]}"
            for kind in outputs}


@lru_cache(maxsize=4)
def study_images(folder: str) -> tuple[Any, ...]:
    """The DICOM images of a folder (without pixel data), read once per process."""
    from caseconv.dicom import load_images

    loaded = load_images(folder)
    if not loaded.images:
        raise CaseError(f"{folder}: no DICOM images", fatal=True)
    return tuple(loaded.images)


def convert_text(text: str, stem: str, name: str, outdir: Path | None, *, outputs: tuple[str, ...] = ("fhir", "sr"),
                 fhir_version: str = "R4", bundle_type: str = "collection", sr_template: str = "1500",
                 mappings: tuple[str, ...] = (), overwrite: bool = False, images: str | None = None,
                 hl7_dir: Path | None = None,
                 ) -> tuple[Conversion, dict[str, bytes], list[Path], list[str]]:
    """Convert one text already read, building only ``outputs`` ("fhir", "sr"); write them
    into ``outdir`` unless it is None. Returns the conversion, the serialised outputs, the
    files written and warnings. Errors other than `CaseError` are bugs, left to the caller.
    """
    from caseconv.parse.nlp import pipeline

    limit = pipeline(mappings)[0].max_length
    if len(text) > limit:  # spaCy refuses longer texts (E088); say so instead of failing inside the parser
        raise CaseError(f"{name}: {len(text)} characters, more than the parser takes ({limit})")
    report = extract(text, stem, mappings=mappings)
    study = None
    if images is not None:
        from caseconv.dicom.images import ordered

        study = ordered(study_images(images))
        report = report.replace(study_uid=str(study[0].StudyInstanceUID))  # the SR joins the latest study
    bundle = sr = message = None
    if "fhir" in outputs:
        from caseconv.fhir import build_bundle

        bundle = build_bundle(report, version=fhir_version, bundle_type=bundle_type)
    if "sr" in outputs and (report.findings or report.diagnoses):
        from caseconv.dicom import build_sr

        sr = build_sr(report, template=sr_template, images=study)
    if "hl7" in outputs:
        from caseconv.hl7v2 import build_oru

        message = build_oru(report)
    result = Conversion(report, bundle, sr, message)
    files = result.files()
    written: list[Path] = []
    if outdir is not None:
        targets = output_paths(outdir, stem, outputs, hl7_dir)
        stale = [path for suffix, path in targets.items() if suffix not in files and path.exists()]
        if stale and not overwrite:  # an SR left from an earlier run would no longer match the bundle
            raise CaseError(f"{stale[0]}: exists (use --overwrite to replace it)")
        write_outputs({targets[suffix]: data for suffix, data in files.items()}, overwrite=overwrite)
        for path in stale:
            path.unlink(missing_ok=True)
        written = [targets[suffix] for suffix in files]
    warnings = content_warnings(report)
    if "sr" in outputs and sr is None:
        warnings.append("no SR written: an SR needs at least one finding or diagnosis")
    return result, files, written, warnings


def convert_file(path: Path, outdir: Path, *, fhir_version: str = "R4", bundle_type: str = "collection",
                 sr_template: str = "1500", mappings: tuple[str, ...] = (), overwrite: bool = False,
                 max_bytes: int = MAX_BYTES) -> tuple[CaseReport, list[Path], list[str]]:
    """Convert one case file into ``outdir``; returns the report, the files written and warnings."""
    text, warnings = read_case(path, max_bytes=max_bytes)
    try:
        result, _, written, more = convert_text(text, safe_stem(path), str(path), outdir, fhir_version=fhir_version,
                                                bundle_type=bundle_type, sr_template=sr_template, mappings=mappings,
                                                overwrite=overwrite)
    except CaseError:
        raise
    except ValueError as error:
        raise CaseError(f"{path}: {error}") from None
    return result.report, written, warnings + more


#: Names that Windows reserves whatever the extension: never produced as a stem.
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                       *(f"lpt{i}" for i in range(1, 10))})


def safe_stem(path: Path | str) -> str:
    """An output name from the input's stem: no separators, no control characters, no dot files."""
    stem = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in Path(path).stem).strip("._") or "case"
    stem = stem[:100].rstrip("._") or "case"
    return f"{stem}_" if stem.lower() in _RESERVED else stem
