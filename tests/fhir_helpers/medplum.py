"""Medplum from the tests: its validator (medplum_check.cjs) and its engine over HTTP
(medplum_server.cjs). Both need node and the packages scripts/deps/fhir.sh installs."""

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


@contextmanager
def server() -> Iterator[str]:
    """Medplum's FHIR engine (in-memory) on 127.0.0.1; yields its base URL."""
    process = subprocess.Popen(["node", str(HERE / "medplum_server.cjs"), str(PREFIX)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            pytest.fail(f"the Medplum server did not start: {process.stderr.read() if process.stderr else ''}")
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def http(base: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """GET (or POST a JSON body) and return the status and the decoded answer."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if body else "GET",
                                     headers={"Content-Type": "application/fhir+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
