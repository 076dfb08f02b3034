#!/bin/sh
# Install everything the tests need on a fresh machine, start nothing by hand, run them.
# The Python packages go into .venv; validators and servers come from the distribution
# (scripts/deps/*.sh, as root) and the npm registry (.deps/node). The tests start the
# servers they use themselves, on 127.0.0.1.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
for deps in scripts/deps/*.sh; do
    PYTHON=.venv/bin/python sh "$deps"
done
.venv/bin/ruff check caseconv tests scripts benchmarks
.venv/bin/python -m pytest -q
