"""Many cases at once: worker processes, results in input order, a summary that counts everything.

Why it is built this way:

- Each worker process loads the tables and the medspaCy pipeline once (its initializer
  warms ``caseconv.parse.nlp.pipeline``), then converts case after case. Workers come
  from a fork server, so a worker that has to be replaced starts from clean imports.
- At most ``4 x jobs`` cases are in flight; results are handed on in input order, so
  memory stays flat however many cases there are and ``--format ndjson`` lines match
  the inputs' order.
- A worker that dies (a crash in a native library, the OOM killer) takes its in-flight
  cases with it; those are run again one by one in a fresh worker, so only the case that
  kills a worker is reported failed and every other case completes.
- The first Ctrl-C stops taking new cases; those in flight finish (outputs are written
  whole or not at all) and the summary is printed. A second Ctrl-C stops at once.
- A write error that every later case would hit too (disk full, read-only folder) stops
  the batch; the cases not attempted are counted as skipped.
- Messages never carry the case text: an unexpected error names the file, the exception
  type and the code location; its message only with ``verbose``.
"""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from caseconv.pipeline import MAX_BYTES, CaseError, check_text, convert_text, read_case, safe_stem

log = logging.getLogger("caseconv")

#: Cases in flight per worker: enough to keep workers busy while results wait for their turn.
IN_FLIGHT_PER_JOB = 4
#: Without an explicit ``jobs``, a worker is started per this many cases (a worker costs ~2 s to start).
CASES_PER_WORKER = 16
STDIN = "-"
#: Failures listed in the closing summary (all of them go to --summary-json).
MAX_LISTED = 20


class UsageError(ValueError):
    """Inputs that cannot start a batch (a missing file, nothing found): exit code 2."""


@dataclass(frozen=True)
class Source:
    """One input: a file, or standard input's bytes; ``stem`` names its outputs (unique in the batch)."""

    name: str
    stem: str
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Settings:
    """How every case of a batch is converted and where its outputs go."""

    outdir: Path | None = None
    ndjson: bool = False
    outputs: tuple[str, ...] = ("fhir", "sr")
    fhir_version: str = "R4"
    bundle_type: str = "collection"
    sr_template: str = "1500"
    mappings: tuple[str, ...] = ()
    overwrite: bool = False
    max_bytes: int = MAX_BYTES
    verbose: bool = False
    #: a folder of the study's DICOM images: patient and study come from them, figures are matched to series
    images: str | None = None
    #: where HL7 v2 ORU^R01 messages go (with "hl7" in outputs); the output folder if None
    hl7_dir: Path | None = None


@dataclass
class Outcome:
    """What happened to one case; small, so that workers can send it back cheaply."""

    index: int
    source: str
    case: str
    ok: bool = False
    error: str | None = None
    fatal: bool = False
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    findings: int = 0
    coded: int = 0
    unmapped: list[tuple[str, str]] = field(default_factory=list)
    #: the ``--format ndjson`` line of this case (without the newline), when asked for.
    line: str | None = None
    #: a traceback, kept only with ``verbose``.
    detail: str | None = None


@dataclass
class Summary:
    """Counts over a batch, for the closing lines and ``--summary-json``."""

    cases: int = 0
    converted: int = 0
    failed: int = 0
    skipped: int = 0
    findings: int = 0
    coded: int = 0
    warnings: int = 0
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    stopped: str | None = None
    jobs: int = 1
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        """Count one case."""
        if outcome.skipped:
            self.skipped += 1
            return
        self.warnings += len(outcome.warnings)
        if outcome.ok:
            self.converted += 1
            self.findings += outcome.findings
            self.coded += outcome.coded
            self.unmapped.update(outcome.unmapped)
        else:
            self.failed += 1
            self.failures.append((outcome.source, outcome.error or "failed"))

    @property
    def coded_share(self) -> float | None:
        """Findings with a code / all findings (None without findings)."""
        return self.coded / self.findings if self.findings else None

    @property
    def exit_code(self) -> int:
        """0 all converted; 1 some failed or were skipped; 130 interrupted by Ctrl-C."""
        if self.interrupted:
            return 130
        return 1 if self.failed or self.skipped else 0

    def to_dict(self) -> dict[str, Any]:
        """The ``--summary-json`` document."""
        return {
            "cases": self.cases, "converted": self.converted, "failed": self.failed, "skipped": self.skipped,
            "findings": self.findings, "coded": self.coded, "coded_share": self.coded_share,
            "warnings": self.warnings,
            "unmapped": [{"kind": kind, "text": text, "count": count}
                         for (kind, text), count in sorted(self.unmapped.items(), key=lambda x: (-x[1], x[0]))],
            "failures": [{"source": source, "error": error} for source, error in self.failures],
            "interrupted": self.interrupted, "stopped": self.stopped, "jobs": self.jobs,
            "seconds": round(self.seconds, 3), "exit_code": self.exit_code,
        }

    def lines(self, *, verbose: bool = False) -> list[str]:
        """The closing summary, one fact a line; unmapped terms by name only with ``verbose``."""
        rate = f", {self.converted / self.seconds:.1f} cases/s" if self.seconds > 0 and self.converted else ""
        plural = "s" if self.cases != 1 else ""
        out = [f"{self.cases} case{plural}: {self.converted} converted, {self.failed} failed, {self.skipped} skipped "
               f"in {self.seconds:.1f} s ({self.jobs} job{'s' if self.jobs != 1 else ''}{rate})"]
        share = f"{self.coded_share:.0%}" if self.coded_share is not None else "-"
        out.append(f"{self.findings} findings, {self.coded} coded ({share}); "
                   f"{len(self.unmapped)} distinct unmapped terms")
        if verbose and self.unmapped:
            top = ", ".join(f"{text} ({count})" for (_, text), count in self.unmapped.most_common(10))
            out.append(f"most frequent unmapped: {top}")
        if self.stopped:
            out.append(f"stopped: {self.stopped}")
        if self.interrupted:
            out.append("interrupted: cases not started were skipped; every output written is complete")
        out.extend(f"failed: {error}" if error.startswith(source) else f"failed: {source}: {error}"
                   for source, error in self.failures[:MAX_LISTED])
        if len(self.failures) > MAX_LISTED:
            out.append(f"... and {len(self.failures) - MAX_LISTED} more failures (--summary-json lists them all)")
        return out


# -- inputs ------------------------------------------------------------------------------------

def _walk(paths: Iterable[str], pattern: str) -> Iterator[tuple[str, Path | None]]:
    for name in paths:
        if name == STDIN:
            yield name, None
            continue
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob(pattern) if p.is_file() and not p.name.startswith("."))
            if not found:
                log.warning("%s: no files matching %s", path, pattern)
            for p in found:
                yield str(p), p
        elif path.exists():
            yield name, path
        else:
            raise UsageError(f"{name}: no such file or folder")


def collect_sources(paths: Iterable[str], pattern: str = "*.txt", *, stdin: BinaryIO | None = None,
                    max_bytes: int = MAX_BYTES) -> list[Source]:
    """The batch's inputs in order: files as given, folders searched recursively, ``-`` for stdin.

    Output stems are made unique (compared without case, as macOS and Windows do): a
    second ``a.txt`` from another folder writes ``a_2.*``.
    """
    sources: list[Source] = []
    taken: set[str] = set()
    stdin_read = False
    for name, path in _walk(paths, pattern):
        data = None
        if path is None:
            if stdin_read:
                raise UsageError("'-' (standard input) given twice")
            stdin_read = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read(max_bytes + 1)
            stem = "stdin"
        else:
            stem = safe_stem(path)
        unique, number = stem, 1
        while unique.casefold() in taken:
            number += 1
            unique = f"{stem}_{number}"
        if unique != stem:
            log.warning("%s: another input is also named %s: writing %s.*", name, stem, unique)
        taken.add(unique.casefold())
        sources.append(Source(name, unique, path, data))
    if not sources:
        raise UsageError("no case files found")
    return sources


# -- one case ----------------------------------------------------------------------------------

def _where(error: BaseException) -> str:
    """The innermost caseconv frame of a traceback (else the innermost): 'caseconv/x.py:12 in f'."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}caseconv{os.sep}" in f.filename] or frames
    if not ours:
        return "?"
    frame = ours[-1]
    parts = Path(frame.filename).parts
    short = "/".join(parts[parts.index("caseconv"):]) if "caseconv" in parts else Path(frame.filename).name
    return f"{short}:{frame.lineno} in {frame.name}"


def convert_one(source: Source, settings: Settings, index: int = 0) -> Outcome:
    """Read, convert and write (or serialise) one case; never raises for a bad case."""
    outcome = Outcome(index, source.name, source.stem)
    try:
        if source.path is not None:
            text, warnings = read_case(source.path, max_bytes=settings.max_bytes)
        else:
            text, warnings = check_text(source.data or b"", source.name, max_bytes=settings.max_bytes)
        result, files, written, more = convert_text(
            text, source.stem, source.name, settings.outdir, outputs=settings.outputs,
            fhir_version=settings.fhir_version, bundle_type=settings.bundle_type,
            sr_template=settings.sr_template, mappings=settings.mappings, overwrite=settings.overwrite,
            images=settings.images, hl7_dir=settings.hl7_dir)
    except CaseError as error:
        outcome.error, outcome.fatal = str(error), error.fatal
    except Exception as error:  # noqa: BLE001 - a parser or writer bug must not stop the batch
        span = getattr(error, "span", None)  # an error that knows where in the text it arose says so
        span = span.to_list() if hasattr(span, "to_list") else span
        where = f" (characters {span[0]}-{span[1]} of the input)" if isinstance(span, (tuple, list)) else ""
        message = f": {error}" if settings.verbose else " (--verbose shows the message)"
        outcome.error = (f"{source.name}{where}: internal error: {type(error).__name__} "
                         f"at {_where(error)}{message}")
        if settings.verbose:
            outcome.detail = traceback.format_exc()
    else:
        report = result.report
        outcome.ok = True
        outcome.warnings = warnings + more
        outcome.written = [str(p) for p in written]
        outcome.findings = len(report.findings)
        outcome.coded = sum(1 for f in report.findings if f.code is not None)
        outcome.unmapped = [(u.kind, u.text.lower()) for u in report.unmapped]
        if settings.ndjson:
            record: dict[str, Any] = {"source": source.name, "case": source.stem, "ok": True,
                                      "warnings": outcome.warnings, "report": report.to_dict(include_text=False)}
            if settings.outdir is not None:
                record["outputs"] = outcome.written
            else:
                if "fhir" in settings.outputs:
                    record["bundle"] = result.bundle
                if "sr" in settings.outputs:
                    sr = files.get("sr.dcm")
                    record["sr"] = base64.b64encode(sr).decode("ascii") if sr is not None else None
            outcome.line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if not outcome.ok and settings.ndjson:
        outcome.line = failure_line(outcome)
    return outcome


def failure_line(outcome: Outcome) -> str:
    """The ndjson line of a case that failed or was skipped: every input gets a line."""
    record = {"source": outcome.source, "case": outcome.case, "ok": False,
              "error": outcome.error or ("skipped" if outcome.skipped else "failed")}
    if outcome.skipped:
        record["skipped"] = True
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# -- workers -----------------------------------------------------------------------------------

def _init_worker(settings: Settings) -> None:
    """Load the tables, the NLP pipeline and the writers once per worker; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.DEBUG if settings.verbose else logging.WARNING)
    try:
        warm(settings)
    except Exception:  # noqa: BLE001 - the same error is reported per case, with its file
        pass


def warm(settings: Settings = Settings()) -> None:
    """Load everything a conversion needs, so that the first case is as fast as the rest."""
    from caseconv.coding import load_tables
    from caseconv.parse.nlp import pipeline

    pipeline(settings.mappings)
    load_tables(settings.mappings)
    if "fhir" in settings.outputs:
        import caseconv.fhir.build  # noqa: F401
    if "sr" in settings.outputs:
        import caseconv.dicom.tid1500  # noqa: F401
        import caseconv.dicom.tid2000  # noqa: F401


def _context() -> Any:
    """A fork server where there is one (fast, no inherited threads), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["caseconv.batch"])
        return context
    return multiprocessing.get_context("spawn")


Worker = Callable[[Source, Settings, int], Outcome]


def _crashed(source: Source, index: int) -> Outcome:
    return Outcome(index, source.name, source.stem,
                   error=f"{source.name}: the worker process died converting this case (a crash or a kill)")


class _Pool:
    """A process pool that can be replaced after a worker dies."""

    def __init__(self, size: int, settings: Settings) -> None:
        self.size, self.settings = size, settings
        self.executor = ProcessPoolExecutor(size, mp_context=_context(), initializer=_init_worker,
                                            initargs=(settings,))

    def close(self, *, kill: bool = False) -> None:
        if kill:
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.kill()
        self.executor.shutdown(wait=True, cancel_futures=True)


def _isolated(items: list[tuple[int, Source]], settings: Settings, worker: Worker,
              stop: Callable[[], bool]) -> Iterator[Outcome]:
    """Run the cases a dead worker took with it one at a time, to find the one that kills."""
    pool = _Pool(1, settings)
    try:
        for index, source in items:
            if stop():
                yield Outcome(index, source.name, source.stem, skipped=True, error="skipped (interrupted)")
                continue
            try:
                yield pool.executor.submit(worker, source, settings, index).result()
            except BrokenProcessPool:
                yield _crashed(source, index)
                pool.close()
                pool = _Pool(1, settings)
    finally:
        pool.close()


def _parallel(sources: list[Source], settings: Settings, jobs: int, worker: Worker,
              stop: Callable[[], bool]) -> Iterator[Outcome]:
    window = jobs * IN_FLIGHT_PER_JOB
    queue = iter(enumerate(sources))
    pending: deque[tuple[int, Source, Future[Outcome]]] = deque()
    pool = _Pool(jobs, settings)
    try:
        while True:
            unsent: tuple[int, Source] | None = None
            while not stop() and len(pending) < window:
                item = next(queue, None)
                if item is None:
                    break
                try:
                    pending.append((item[0], item[1], pool.executor.submit(worker, item[1], settings, item[0])))
                except BrokenProcessPool:  # a worker died before this case could be handed over
                    unsent = item
                    break
            if unsent is not None:
                lost = [(i, s) for i, s, _ in pending] + [unsent]
                pending.clear()
                pool.close()
                yield from _isolated(lost, settings, worker, stop)
                pool = _Pool(jobs, settings)
                continue
            if not pending:
                break
            index, source, future = pending.popleft()
            if stop() and future.cancel():
                yield Outcome(index, source.name, source.stem, skipped=True, error="skipped (interrupted)")
                continue
            try:
                yield future.result()
            except BrokenProcessPool:
                lost = [(index, source)] + [(i, s) for i, s, _ in pending]
                pending.clear()
                pool.close()
                yield from _isolated(lost, settings, worker, stop)
                pool = _Pool(jobs, settings)
        for index, source in queue:  # not started: interrupted or stopped
            yield Outcome(index, source.name, source.stem, skipped=True, error="skipped")
    except KeyboardInterrupt:
        pool.close(kill=True)
        _sweep(settings.outdir, [s for _, s, _ in pending])
        raise
    finally:
        pool.close()


def _sweep(outdir: Path | None, sources: list[Source]) -> None:
    """Remove the temporary files of workers killed mid-write (a second Ctrl-C)."""
    if outdir is None:
        return
    for source in sources:
        for leftover in outdir.glob(f".{source.stem}.*.tmp"):
            leftover.unlink(missing_ok=True)


def outcomes(sources: list[Source], settings: Settings, *, jobs: int = 1, worker: Worker = convert_one,
             stop: Callable[[], bool] = lambda: False) -> Iterator[Outcome]:
    """Each case's outcome, in input order; ``jobs`` > 1 runs worker processes."""
    if jobs <= 1:
        for index, source in enumerate(sources):
            if stop():
                yield Outcome(index, source.name, source.stem, skipped=True, error="skipped")
            else:
                yield worker(source, settings, index)
    else:
        yield from _parallel(sources, settings, jobs, worker, stop)


def default_jobs(cases: int) -> int:
    """One worker per core, but none that would start for fewer than `CASES_PER_WORKER` cases."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, cases // CASES_PER_WORKER))


def run(sources: list[Source], settings: Settings, *, jobs: int | None = None,
        on_outcome: Callable[[Outcome], None] = lambda outcome: None, worker: Worker = convert_one,
        stop: Callable[[], bool] = lambda: False) -> Summary:
    """Convert a batch; ``on_outcome`` sees each case in input order. Returns the summary.

    ``stop`` is polled between cases (see `interrupt_flag`); a fatal write error stops too.
    """
    jobs = default_jobs(len(sources)) if jobs is None else max(1, min(jobs, len(sources)))
    summary = Summary(cases=len(sources), jobs=jobs)
    started = time.perf_counter()
    fatal: list[str] = []

    def halted() -> bool:
        return bool(fatal) or stop()

    try:
        for outcome in outcomes(sources, settings, jobs=jobs, worker=worker, stop=halted):
            if outcome.fatal and not fatal:
                fatal.append(outcome.error or "write error")
                summary.stopped = f"{outcome.error}; the remaining cases were not attempted"
            summary.add(outcome)
            if outcome.skipped and settings.ndjson and outcome.line is None:
                outcome.line = failure_line(outcome)
            on_outcome(outcome)
    finally:
        summary.interrupted = stop()
        summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def interrupt_flag() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a flag that `run` polls; a second one raises KeyboardInterrupt."""
    hit: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: bool(hit)
        return

    def handler(signum: int, frame: Any) -> None:
        hit.append(True)
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, previous)


def write_summary(summary: Summary, path: Path) -> None:
    """``--summary-json``: written whole (temporary file, then rename)."""
    from caseconv.pipeline import write_outputs

    write_outputs({path: (json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()},
                  overwrite=True)
