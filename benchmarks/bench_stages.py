"""Start-up time, the cost of each stage per case, and the library floor.

    .venv/bin/python benchmarks/bench_stages.py

- start-up: ``caseconv --help`` / ``--version`` as subprocesses (median of 10);
- warm-up: loading the tables, the medspaCy pipeline and the writers once;
- extract, FHIR build (+ JSON), SR build (+ Part 10 bytes) per case, on the reference cases;
- the library floor: fhir.resources validating and serialising the same bundle alone, and
  highdicom building and writing the same SR content tree alone (no caseconv code), i.e.
  what any converter producing these objects with these libraries must pay.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from _common import CASECONV, CASES, machine


def _median_seconds(command: list[str], runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _per_item(function: Callable[[Any], Any], items: list[Any], repeat: int) -> float:
    """Median over ``repeat`` rounds of the mean seconds per item."""
    for item in items:
        function(item)  # warm caches
    rounds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            function(item)
        rounds.append((time.perf_counter() - started) / len(items))
    return statistics.median(rounds)


def main() -> None:
    print(machine())
    print(f"caseconv --help: {_median_seconds([CASECONV, '--help']) * 1000:.0f} ms")
    print(f"caseconv --version: {_median_seconds([CASECONV, '--version']) * 1000:.0f} ms")

    started = time.perf_counter()
    from caseconv.batch import Settings, warm

    warm(Settings())
    print(f"warm-up (tables, medspaCy pipeline, writers): {time.perf_counter() - started:.2f} s")

    from caseconv.dicom import build_sr
    from caseconv.fhir import build_bundle, dumps
    from caseconv.pipeline import extract

    texts = [p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.txt"))]
    reports = [extract(t, f"c{i}") for i, t in enumerate(texts)]
    extract_s = _per_item(lambda t: extract(t, "c"), texts, 10)
    fhir_s = _per_item(lambda r: dumps(build_bundle(r)), reports, 5)

    def sr_bytes(report: Any) -> bytes:
        buffer = BytesIO()
        build_sr(report).save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    sr_s = _per_item(sr_bytes, reports, 5)
    print(f"extract: {extract_s * 1000:.1f} ms/case ({1 / extract_s:.0f} cases/s on one core)")
    print(f"FHIR bundle build + JSON: {fhir_s * 1000:.1f} ms/case")
    print(f"SR build + Part 10 bytes: {sr_s * 1000:.1f} ms/case")

    # the library floor: the same objects, built by the libraries alone
    import highdicom.sr as hsr
    from fhir.resources.R4B.bundle import Bundle

    from caseconv.dicom.document import _carrier

    bundles = [build_bundle(r) for r in reports]
    fhir_floor = _per_item(lambda b: Bundle.model_validate(b).model_dump_json(), bundles, 5)
    # the content tree as highdicom objects, made outside the timed loop
    from caseconv.dicom.tid1500 import measurement_report

    trees = [(r, measurement_report(r)[0]) for r in reports]

    def highdicom_floor(item: tuple[Any, Any]) -> bytes:
        report, root = item
        document = hsr.Comprehensive3DSR(
            evidence=[_carrier(report, "1.2.840.10008.5.1.4.1.1.88.34")], content=root,
            series_instance_uid="2.25.1", series_number=1, sop_instance_uid="2.25.2", instance_number=1,
            manufacturer="floor", is_complete=True, record_evidence=False)
        buffer = BytesIO()
        document.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    sr_floor = _per_item(highdicom_floor, trees, 5)
    print(f"floor, fhir.resources validate + JSON of the same bundle: {fhir_floor * 1000:.1f} ms/case")
    print(f"floor, highdicom Comprehensive3DSR of the same tree + bytes: {sr_floor * 1000:.1f} ms/case")
    total = extract_s + fhir_s + sr_s
    floor = fhir_floor + sr_floor
    print(f"in-process per case: caseconv {total * 1000:.1f} ms vs library floor {floor * 1000:.1f} ms "
          f"({total / floor:.2f}x); without extract {(fhir_s + sr_s) / floor:.2f}x")


if __name__ == "__main__":
    main()
