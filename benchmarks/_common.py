"""Helpers shared by the benchmark scripts: the machine, a replicated corpus, process-tree memory."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases"
CASECONV = str(Path(sys.executable).with_name("caseconv"))


def machine() -> str:
    """One line naming the machine the figures were taken on."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}), {memory:.0f} GiB, "
            f"Python {platform.python_version()}; load average at start {load}")


def make_corpus(n: int, folder: Path) -> Path:
    """``n`` cases from the reference cases, each with a distinct id line and a small change of
    wording, so that every text (and so every derived UID) differs. Made once per size."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.txt"))) == n:
        return folder
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(CASES.glob("*.txt"))]
    for i in range(n):
        stem, text = texts[i % len(texts)]
        variant = text.replace(" the ", " the  ", (i // len(texts)) % 3)  # vary the text slightly
        (folder / f"{stem}_{i:05d}.txt").write_text(f"Case {i:05d}.\n\n{variant}", encoding="utf-8")
    return folder


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree)


def run_measured(command: list[str], timeout: float | None = None,
                 **kw: object) -> tuple[float, int, subprocess.CompletedProcess[bytes]]:
    """Run ``command``; its wall time and the peak resident memory of its process tree (bytes)."""
    peak = [0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        done.set()
        raise
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return seconds, peak[0], subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
