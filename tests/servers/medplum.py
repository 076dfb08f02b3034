"""Medplum's FHIR engine behind `medplum_server.cjs`, which demands a bearer token.

Needs node and the packages `scripts/deps/fhir.sh` installs into .deps/node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import stop

SCRIPT = Path(__file__).with_name("medplum_server.cjs")
PREFIX = Path(os.environ.get("CASECONV_NODE_PREFIX", Path(__file__).parents[2] / ".deps" / "node"))


def missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: run scripts/deps/deliver.sh (apt-get install nodejs npm)"
    if not (PREFIX / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return f"Medplum is not installed in {PREFIX}: run scripts/deps/fhir.sh"
    return None


@dataclass(frozen=True)
class Medplum:
    root: str  # http://127.0.0.1:N
    token: str

    @property
    def base(self) -> str:
        return self.root + "/fhir/R4"


@contextmanager
def medplum(token: str) -> Iterator[Medplum]:
    env = {**os.environ, "MEDPLUM_TEST_TOKEN": token}
    server = subprocess.Popen(["node", str(SCRIPT), str(PREFIX)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line:
            raise RuntimeError(f"the Medplum server did not start: {server.stderr.read() if server.stderr else ''}")
        yield Medplum(f"http://127.0.0.1:{json.loads(line)['port']}", token)
    finally:
        stop(server)
