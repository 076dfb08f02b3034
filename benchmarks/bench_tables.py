"""Time loading and checking the mapping tables (not a test: timings vary by machine).

Why: every `caseconv` command loads the tables once, so their load time is paid on each
run; the checker runs in CI and in `caseconv mappings check`.

    python benchmarks/bench_tables.py [--repeat N] [DIR ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from caseconv.coding.checks import check_tables
from caseconv.coding.tables import TableError, Tables, load_tables, read_table, shipped_folder, table_files


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _load(extra: tuple[str, ...]) -> Tables:
    load_tables.cache_clear()
    return load_tables(extra)


def main(argv: list[str] | None = None) -> None:
    """Print the median cold load time, concept count and check time of the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("folders", nargs="*", help="site folders to add to the shipped tables")
    args = parser.parse_args(argv)
    extra = tuple(args.folders)
    seed = shipped_folder() / "seed"
    seed_ms = _median_ms(lambda: Tables(c for p in table_files(seed) for c in read_table(p)), args.repeat)
    seed_count = len(Tables(c for p in table_files(seed) for c in read_table(p)))
    print(f"seed tables only: {seed_count} concepts, read and indexed in {seed_ms:.1f} ms (median)")
    try:
        load_ms = _median_ms(lambda: _load(extra), args.repeat)
        print(f"load_tables({extra}): {len(_load(extra))} concepts, cold load {load_ms:.1f} ms (median)")
    except TableError as error:
        print(f"load_tables({extra}) fails: {error}")
    folders = [shipped_folder(), *(Path(f) for f in extra)]
    check_ms = _median_ms(lambda: check_tables(folders), args.repeat)
    print(f"check_tables: {len(check_tables(folders))} problem(s) in {check_ms:.1f} ms (median, "
          "first run includes indexing pydicom's dictionary)")


if __name__ == "__main__":
    main()
