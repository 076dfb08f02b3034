"""Run a server that binds every interface inside its own network namespace, reachable
only through a relay on 127.0.0.1.

Orthanc has no bind-address option: it listens on all interfaces. Started under
``unshare -n`` it has only its own loopback; this module's relay listens on 127.0.0.1 in
our namespace, enters the server's namespace (setns) and forwards each connection to
the server's port there. Nothing but this process can reach the server.

As a script: ``python netns.py /proc/PID/ns/net PORT [PORT ...]`` prints
``{"PORT": local_port, ...}`` on one line, then relays until killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000


def available() -> str | None:
    """None when namespaces can be used here, else why not (for a skip reason)."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux / iproute2)"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a network namespace here: {probe.stderr.strip()}"
    return None


def isolated(command: list[str]) -> list[str]:
    """``command`` run in a new network namespace with its loopback up (same pid: exec)."""
    script = 'ip link set lo up && exec "$@"'
    return ["unshare", "-n", "sh", "-c", script, "sh", *command]


def _enter(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({path}): {os.strerror(error)}")
    finally:
        os.close(fd)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(listener: socket.socket, port: int) -> None:
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(("127.0.0.1", port), timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def main(argv: list[str]) -> None:
    path, ports = argv[0], [int(p) for p in argv[1:]]
    listeners = {}
    for port in ports:  # bound in our namespace, before entering the server's
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listeners[port] = listener
    _enter(path)  # single-threaded here: every later socket lives in the server's namespace
    print(json.dumps({str(p): s.getsockname()[1] for p, s in listeners.items()}), flush=True)
    threads = [threading.Thread(target=_serve, args=(s, p), daemon=True) for p, s in listeners.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
