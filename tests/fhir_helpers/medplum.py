"""Medplum from the tests: its validator (medplum_check.cjs) and its engine over HTTP
(tests/servers/medplum_server.cjs, token-checked). Both need node and the packages
scripts/deps/fhir.sh installs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
PREFIX = Path(os.environ.get("CASECONV_NODE_PREFIX", HERE.parents[1] / ".deps" / "node"))

#: Skip marks for a test module that runs Medplum, each naming what is missing.
NEEDS_MEDPLUM = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (PREFIX / "node_modules" / "@medplum" / "core").is_dir(),
                       reason=f"Medplum is not installed in {PREFIX}: run scripts/deps/fhir.sh"),
]


def check(text: str, tmp_path: Path) -> dict[str, Any]:
    """Medplum's validator on each resource, and (transactions) the engine's answer, posted twice."""
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    run = subprocess.run(["node", str(HERE / "medplum_check.cjs"), str(PREFIX), str(path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


#: The bearer token the engine demands in these tests.
TOKEN = "fhir-tests"


@contextmanager
def server() -> Iterator[str]:
    """Medplum's FHIR engine (in-memory) on 127.0.0.1 (`servers.medplum`); yields its base URL."""
    from servers.medplum import medplum

    with medplum(TOKEN) as running:
        yield running.base


def http(base: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """GET (or POST a JSON body) and return the status and the decoded answer."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(base + ("" if path == "/" else path), data=data,
                                     method="POST" if body else "GET",
                                     headers={"Content-Type": "application/fhir+json",
                                              "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
