"""End-to-end throughput and peak memory of ``caseconv convert`` on a replicated corpus.

    .venv/bin/python benchmarks/bench_batch.py --cases 1000 --jobs 1 2
    .venv/bin/python benchmarks/bench_batch.py --cases 10000 --jobs 2

Peak memory is the largest sum of resident memory over the whole process tree (the
command and its workers), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from _common import CASECONV, machine, make_corpus, run_measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, nargs="+", default=[1000])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "caseconv-bench")
    args = parser.parse_args()
    print(machine())
    print("| cases | jobs | seconds | cases/s | peak memory (MiB) | exit |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.cases:
        corpus = make_corpus(n, args.work / f"corpus-{n}")
        for jobs in args.jobs:
            out = args.work / f"out-{n}-{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            summary = args.work / f"summary-{n}-{jobs}.json"
            seconds, peak, result = run_measured([CASECONV, "convert", str(corpus), "-o", str(out), "--jobs",
                                                  str(jobs), "-q", "--no-progress", "--summary-json", str(summary)])
            data = json.loads(summary.read_text())
            print(f"| {n} | {jobs} | {seconds:.1f} | {data['converted'] / seconds:.1f} | {peak / 2**20:.0f} "
                  f"| {result.returncode} |", flush=True)
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
