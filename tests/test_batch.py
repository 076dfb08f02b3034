"""The batch runner (caseconv.batch): order, crashes, stops, Ctrl-C, the summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caseconv import batch
from caseconv.batch import Outcome, Settings, Source

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sts_psoas.txt"


def _sources(n: int) -> list[Source]:
    return [Source(f"in/c{i}.txt", f"c{i}", None, b"x") for i in range(n)]


def fake_worker(source: Source, settings: Settings, index: int) -> Outcome:
    """Succeeds at once; the worker process dies on c3 (as a segfault in a native library would)."""
    if source.stem == "c3" and settings.verbose:
        os._exit(70)
    time.sleep(0.01 * (index % 3))  # finish out of order
    return Outcome(index, source.name, source.stem, ok=True, findings=2, coded=1, unmapped=[("site", "psoas")])


def fatal_worker(source: Source, settings: Settings, index: int) -> Outcome:
    """Disk full at the third case."""
    if index == 2:
        return Outcome(index, source.name, source.stem, error="out: cannot write: No space left on device",
                       fatal=True)
    return Outcome(index, source.name, source.stem, ok=True)


def test_parallel_results_come_in_input_order() -> None:
    seen: list[int] = []
    summary = batch.run(_sources(20), Settings(), jobs=2, worker=fake_worker,
                        on_outcome=lambda o: seen.append(o.index))
    assert seen == list(range(20))
    assert (summary.converted, summary.failed, summary.jobs) == (20, 0, 2)
    assert summary.findings == 40 and summary.coded_share == 0.5
    assert summary.unmapped[("site", "psoas")] == 20
    assert summary.exit_code == 0


def test_a_worker_crash_fails_only_its_case() -> None:
    seen: list[Outcome] = []
    summary = batch.run(_sources(12), Settings(verbose=True), jobs=2, worker=fake_worker, on_outcome=seen.append)
    assert [o.index for o in seen] == list(range(12))
    failed = [o for o in seen if not o.ok]
    assert [o.case for o in failed] == ["c3"]
    assert "worker process died" in (failed[0].error or "")
    assert (summary.converted, summary.failed, summary.exit_code) == (11, 1, 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_fatal_write_error_stops_the_batch(jobs: int) -> None:
    summary = batch.run(_sources(40), Settings(), jobs=jobs, worker=fatal_worker)
    assert summary.failed == 1
    assert summary.converted + summary.failed + summary.skipped == 40
    assert summary.skipped >= 40 - 3 - jobs * batch.IN_FLIGHT_PER_JOB
    assert summary.stopped and "No space left" in summary.stopped
    assert summary.exit_code == 1


def test_stop_flag_skips_the_rest_and_reports_interrupted() -> None:
    seen: list[Outcome] = []
    summary = batch.run(_sources(10), Settings(), jobs=1, worker=fake_worker, on_outcome=seen.append,
                        stop=lambda: len(seen) >= 3)
    assert [o.ok for o in seen] == [True] * 3 + [False] * 7
    assert all(o.skipped for o in seen[3:])
    assert (summary.converted, summary.skipped, summary.interrupted, summary.exit_code) == (3, 7, True, 130)
    assert any("interrupted" in line for line in summary.lines())


def test_summary_json_lists_everything(tmp_path: Path) -> None:
    summary = batch.run(_sources(3), Settings(), jobs=1, worker=fatal_worker)
    batch.write_summary(summary, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["failures"] == [{"source": "in/c2.txt", "error": "out: cannot write: No space left on device"}]
    assert data["exit_code"] == 1 and data["cases"] == 3


def test_summary_does_not_name_unmapped_terms_unless_verbose() -> None:
    summary = batch.run(_sources(2), Settings(), jobs=1, worker=fake_worker)
    assert not any("psoas" in line for line in summary.lines())
    assert any("psoas" in line for line in summary.lines(verbose=True))


def test_default_jobs_needs_enough_cases() -> None:
    assert batch.default_jobs(1) == 1
    assert batch.default_jobs(batch.CASES_PER_WORKER - 1) == 1
    assert 1 <= batch.default_jobs(10_000) <= (os.cpu_count() or 1)


def test_collect_sources(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/b.txt", "d/e/a.txt", "d/.hidden.txt", "d/E/../a.TXT"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    import io

    sources = batch.collect_sources([str(tmp_path / "d"), "-"], "*.txt", stdin=io.BytesIO(b"text"))
    assert [s.stem for s in sources] == ["b", "a", "stdin"]
    assert sources[-1].data == b"text"
    with pytest.raises(batch.UsageError):
        batch.collect_sources([str(tmp_path / "missing")])
    with pytest.raises(batch.UsageError):
        batch.collect_sources(["-", "-"], stdin=io.BytesIO(b""))


def test_case_insensitive_stems_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "A.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    sources = batch.collect_sources([str(tmp_path / "A.txt"), str(tmp_path / "a.txt")])
    assert [s.stem for s in sources] == ["A", "a_2"]


def test_internal_error_names_file_and_place_not_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> None:
        raise ValueError("Patient Jane Quixotic said something")

    monkeypatch.setattr(batch, "convert_text", broken)
    outcome = batch.convert_one(Source("in/c.txt", "c", None, b"some text"), Settings())
    assert outcome.error and outcome.error.startswith("in/c.txt: internal error: ValueError at caseconv/batch.py:")
    assert "Quixotic" not in outcome.error
    verbose = batch.convert_one(Source("in/c.txt", "c", None, b"some text"), Settings(verbose=True))
    assert verbose.error and "Quixotic" in verbose.error and verbose.detail


def test_ctrl_c_leaves_complete_outputs_and_a_summary(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    text = SAMPLE.read_text(encoding="utf-8")
    for i in range(60):
        (folder / f"case{i:02d}.txt").write_text(text + f"\nCase {i}.\n", encoding="utf-8")
    process = subprocess.Popen([str(Path(sys.executable).with_name("caseconv")), "convert", str(folder),
                                "-o", str(out), "--jobs", "2", "--summary-json", str(tmp_path / "s.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "CI": "1"})
    assert process.stdout is not None
    process.stdout.readline()  # the first case is written
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert b"interrupted" in stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["interrupted"] and summary["skipped"] > 0
    assert summary["converted"] + summary["failed"] + summary["skipped"] == 60
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    stems = {n.split(".")[0] for n in names}
    assert len(stems) == summary["converted"]
    for stem in stems:
        assert json.loads((out / f"{stem}.fhir.json").read_text())["resourceType"] == "Bundle"
        assert (out / f"{stem}.sr.dcm").read_bytes()[128:132] == b"DICM"


def test_a_worker_dying_while_cases_are_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool can break between two hand-overs (a worker died after the last result came
    back): the case that could not be sent and those in flight are run again, in order."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pools: list[object] = []

    class Executor(ThreadPoolExecutor):
        def __init__(self, breaks: bool) -> None:
            super().__init__(1)
            self.sent, self.breaks = 0, breaks

        def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.sent += 1
            if self.breaks and self.sent == 3:
                raise BrokenProcessPool("a child process terminated abruptly")
            return super().submit(*args, **kwargs)

    class Pool:
        def __init__(self, size: int, settings: Settings) -> None:
            self.executor = Executor(breaks=not pools)
            pools.append(self)

        def close(self, *, kill: bool = False) -> None:
            self.executor.shutdown(wait=True)

    monkeypatch.setattr(batch, "_Pool", Pool)
    seen: list[Outcome] = []
    summary = batch.run(_sources(6), Settings(), jobs=2, worker=fake_worker, on_outcome=seen.append)
    assert [o.index for o in seen] == list(range(6))
    assert all(o.ok for o in seen) and summary.exit_code == 0
    assert len(pools) >= 3  # the broken pool, the one-at-a-time rerun, and a fresh pool
