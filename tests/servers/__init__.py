"""Servers the delivery tests start on 127.0.0.1 (Orthanc, Medplum wrapper, MLLP listener, stubs),
and the two ways they are stopped."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer


def stop(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """Terminate a server we started (by its own handle), kill it if it will not go."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(server: BaseServer) -> Iterator[BaseServer]:
    """A socketserver serving in a daemon thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
