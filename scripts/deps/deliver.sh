#!/bin/sh
# What the delivery tests use (tests/test_deliver*.py, tests/test_hl7v2.py skip, naming the
# missing piece, without them):
#   - Orthanc 1.10 with its DICOMweb plugin (C-STORE, STOW-RS, QIDO-RS, WADO-RS): Debian's
#     orthanc and orthanc-dicomweb, as root. Orthanc binds every interface, so the tests run
#     it in its own network namespace (unshare from util-linux, ip from iproute2) behind a
#     relay on 127.0.0.1; the system service the package installs is not left running.
#   - node with Medplum's FHIR engine (the token-checking wrapper in tests/servers/):
#     nodejs/npm from Debian, the Medplum packages by scripts/deps/fhir.sh into .deps/node.
#   - Python: pynetdicom (C-STORE), hl7apy (ORU^R01, MLLP listener), requests (FHIR, STOW-RS)
#     into the venv.
set -eu
cd "$(dirname "$0")/../.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=""
[ -x /usr/sbin/Orthanc ] || command -v Orthanc >/dev/null 2>&1 || need="$need orthanc"
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need="$need orthanc-dicomweb"
command -v unshare >/dev/null 2>&1 || need="$need util-linux"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
    $SUDO apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $need
fi
# The package may start a system Orthanc listening on 4242/8042 on every interface: stop it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -c 'import pynetdicom, hl7apy, requests' 2>/dev/null || \
    "$PYTHON" -m pip install "pynetdicom>=2.1" "hl7apy>=1.3.5" "requests>=2.31"
[ -d .deps/node/node_modules/@medplum/fhir-router ] || sh scripts/deps/fhir.sh
"${ORTHANC:-/usr/sbin/Orthanc}" --version | head -1
"$PYTHON" -c 'from importlib.metadata import version as v; print(*(f"{n} {v(n)}" for n in ("pynetdicom", "hl7apy", "requests")))'
