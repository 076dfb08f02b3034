"""5 MB files of pathological patterns through the input checks and `extract` (target: < 10 s each).

    .venv/bin/python benchmarks/bench_pathological.py [--size 5000000] [--profile]
    .venv/bin/python benchmarks/bench_pathological.py --scaling

``--scaling`` parses each pattern at 100, 200 and 400 kB in one process and prints how the
time grows when the input doubles (2 is linear, 4 quadratic): the quick check for a
quadratic path after a parser change.

spaCy refuses a text over ``nlp.max_length`` (1,000,000 characters) with E088, so by
default the limit is raised in the measuring process to time the parse itself;
``--keep-limit`` shows what caseconv does today. Each pattern runs in its own process
(time limit 600 s) so that memory is measured per file; the time is the parse alone,
after warm-up. ``--profile`` prints the top functions of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import machine, run_measured

PATTERNS = {
    "1x1x1x...": "1x",
    "digit runs": "1234567890",
    "dashes": "-",
    "Fig Fig Fig": "Fig ",
    "12.5 x 12.5 x ... cm": "12.5 x ",
    "hyphenated line ends": "hyper-\nintense ",
    "mixed": "Fig 1. 1x1x1 mm ---- 0123456789 L4-L5 no mass (",
    "run-on list (no full stop)": "no mass in the left kidney, ",
    "run-on measurements": "right psoas abscess 3 x 4 cm with ",
    "prose (reference cases)": None,
}

CHILD = """
import sys, time, cProfile, pstats
from caseconv.batch import Settings, warm
from caseconv.pipeline import check_text, extract
warm(Settings(outputs=()))
if sys.argv[3] == 'raise-limit':  # spaCy refuses texts over nlp.max_length (1,000,000 characters)
    from caseconv.parse.nlp import pipeline
    pipeline()[0].max_length = 10**8
data = open(sys.argv[1], 'rb').read()
started = time.perf_counter()
text, _ = check_text(data, sys.argv[1], max_bytes=len(data))
if sys.argv[2] == 'profile':
    cProfile.run('report = extract(text, "p")', sys.argv[1] + '.prof')
    pstats.Stats(sys.argv[1] + '.prof').sort_stats('tottime').print_stats(12)
else:
    report = extract(text, 'p')
print(f'SECONDS {time.perf_counter() - started:.2f} FINDINGS {len(report.findings)}')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=5_000_000)
    parser.add_argument("--only", help="one pattern name")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--scaling", action="store_true", help="time ratios at 100, 200 and 400 kB")
    parser.add_argument("--keep-limit", action="store_true",
                        help="keep spaCy's nlp.max_length (texts over 1,000,000 characters then fail)")
    args = parser.parse_args()
    print(machine())
    if args.scaling:
        scaling()
        return
    print(f"| pattern ({args.size / 1e6:g} MB) | parse seconds | findings | peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    folder = Path(tempfile.mkdtemp(prefix="caseconv-patho-"))
    for name, pattern in PATTERNS.items():
        if args.only and name != args.only:
            continue
        if pattern is None:
            from _common import CASES

            pattern = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.txt")))
        text = (pattern * (args.size // len(pattern) + 1))[: args.size]
        path = folder / "case.txt"
        path.write_text(text, encoding="utf-8")
        try:
            _, peak, result = run_measured([sys.executable, "-c", CHILD, str(path),
                                            "profile" if args.profile else "time",
                                            "keep" if args.keep_limit else "raise-limit"], timeout=600)
        except Exception as error:  # noqa: BLE001 - a time-out is a result too
            print(f"| {name} | > 600 ({type(error).__name__}) | | |", flush=True)
            continue
        out = result.stdout.decode()
        line = next((x for x in out.splitlines() if x.startswith("SECONDS")), None)
        if line is None:
            print(f"| {name} | failed: {result.stderr.decode().strip().splitlines()[-1:]} | | {peak / 2**20:.0f} |")
            continue
        fields = line.split()
        print(f"| {name} | {fields[1]} | {fields[3]} | {peak / 2**20:.0f} |", flush=True)
        if args.profile:
            print(out)


def scaling() -> None:
    """Time ratios when the input doubles, for every pattern (run in this process)."""
    import time

    from caseconv.batch import Settings, warm
    from caseconv.parse.nlp import pipeline
    from caseconv.pipeline import extract

    warm(Settings(outputs=()))
    pipeline()[0].max_length = 10**8
    extra = {"run-on list with sizes": "right psoas abscess 3 x 4 cm, ", "levels in a list": "L4-L5 disc herniation, "}
    print("| pattern | 100 kB s | 200 kB s | 400 kB s | ratio 400/200 |")
    print("|---|---:|---:|---:|---:|")
    for name, pattern in {**PATTERNS, **extra}.items():
        if pattern is None:
            continue
        times = []
        for size in (100_000, 200_000, 400_000):
            text = (pattern * (size // len(pattern) + 1))[:size]
            started = time.perf_counter()
            extract(text, "p")
            times.append(time.perf_counter() - started)
        print(f"| {name} | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} | {times[2] / times[1]:.2f} |", flush=True)
    # thousands of findings that do not merge (each nodule has its own size): merging is windowed
    times = []
    for size in (100_000, 200_000, 400_000):
        count = size // 32
        text = "CT: " + " ".join(f"A {i % 9999 + 1}.{i % 7} mm nodule in segment {i % 8 + 1}." for i in range(count))
        started = time.perf_counter()
        extract(text, "p")
        times.append(time.perf_counter() - started)
    print(f"| distinct findings (nodules of other sizes) | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} | "
          f"{times[2] / times[1]:.2f} |", flush=True)
    # thousands of captions, each pointed to by a narrative sentence
    times = []
    for size in (100_000, 200_000, 400_000):
        count = size // 72
        text = "\n\n".join(f"Fig. {i + 1}. CT shows a {i % 97 + 1} mm nodule.\n\nCT showed a {i % 89 + 1} mm cyst "
                           f"(Fig. {i + 1})." for i in range(count))
        started = time.perf_counter()
        extract(text, "p")
        times.append(time.perf_counter() - started)
    print(f"| captions and references to them | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} | "
          f"{times[2] / times[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
