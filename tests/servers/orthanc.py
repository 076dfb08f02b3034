"""A throw-away Orthanc (with its DICOMweb plugin) for the delivery tests.

Config, storage and index live in a temp folder. Orthanc listens on every interface (it
has no bind option), so it runs in its own network namespace and is reached through
`netns`'s relay on 127.0.0.1 only; ``RemoteAccessAllowed: false`` and a closed list of
DICOM peers (``DicomAlwaysAllowStore: false``, ``DicomCheckModalityHost``) as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import netns, stop

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
AET = "ORTHANC"
#: The only peer Orthanc takes stores from.
CALLING_AET = "CASECONV"
#: Ports inside Orthanc's own namespace (no one else is there).
HTTP_PORT, DICOM_PORT = 8042, 4242


def binary() -> str | None:
    return shutil.which("Orthanc") or (str(p) if (p := Path("/usr/sbin/Orthanc")).exists() else None)


def missing() -> str | None:
    """Why the Orthanc tests cannot run here, or None."""
    if binary() is None:
        return "Orthanc is not installed: run scripts/deps/deliver.sh (apt-get install orthanc)"
    if not PLUGIN.exists():
        return f"{PLUGIN} is missing: run scripts/deps/deliver.sh (apt-get install orthanc-dicomweb)"
    return netns.available()


@dataclass(frozen=True)
class Orthanc:
    http: str  # http://127.0.0.1:N
    host: str
    dicom_port: int
    aet: str = AET

    @property
    def dicomweb(self) -> str:
        return self.http + "/dicom-web"

    def get(self, path: str, accept: str = "application/json") -> tuple[int, bytes]:
        request = urllib.request.Request(self.http + path, headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str, accept: str = "application/json") -> object:
        status, body = self.get(path, accept)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)


def config(folder: Path) -> dict:
    return {
        "Name": "caseconv-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": HTTP_PORT,
        "DicomPort": DICOM_PORT,
        "DicomAet": AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {"caseconv": [CALLING_AET, "127.0.0.1", 104]},
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 4,
        "StableAge": 1,
        "SaveJobs": False,
    }


@contextmanager
def orthanc(folder: Path) -> Iterator[Orthanc]:
    """A running Orthanc with an empty store; stopped (and its relay) on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config(folder), indent=2), encoding="utf-8")
    log = (folder / "orthanc.log").open("wb")
    server = subprocess.Popen(netns.isolated([binary() or "Orthanc", str(path)]), stdout=log,
                              stderr=subprocess.STDOUT)
    relay = None
    try:
        deadline = time.monotonic() + 30
        while not Path(f"/proc/{server.pid}/exe").exists() or "Orthanc" not in _exe(server.pid):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.02)
        relay = subprocess.Popen([sys.executable, netns.__file__, f"/proc/{server.pid}/ns/net",
                                  str(HTTP_PORT), str(DICOM_PORT)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        line = relay.stdout.readline() if relay.stdout else ""
        if not line:
            raise RuntimeError(f"the relay did not start: {relay.stderr.read() if relay.stderr else ''}")
        ports = json.loads(line)
        running = Orthanc(f"http://127.0.0.1:{ports[str(HTTP_PORT)]}", "127.0.0.1", ports[str(DICOM_PORT)])
        while True:
            try:
                if running.get("/system")[0] == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc is not answering: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield running
    finally:
        stop(relay)
        stop(server)
        log.close()


def _exe(pid: int) -> str:
    try:
        return str(Path(f"/proc/{pid}/exe").readlink())
    except OSError:
        return ""
