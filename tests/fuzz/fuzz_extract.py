"""atheris fuzz target: bytes -> input checks -> extract. Run by hand, not collected by pytest.

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/fuzz_extract.py -max_total_time=600 -max_len=4096 tests/fuzz/corpus

The property is the one of tests/test_robust.py: the bytes are refused with a
`CaseError` (one line naming the file) or read, and then `extract` raises nothing and
every span indexes the text. A crash is saved by libFuzzer as ``crash-<sha1>``; replay
it with ``python tests/fuzz/fuzz_extract.py crash-<sha1>``. The seed corpus is made from
the reference cases on first run (``tests/fuzz/corpus`` is not committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["caseconv"]):
    import caseconv.coding
    import caseconv.parse  # noqa: F401 - imported here so that its code is instrumented
    from caseconv.batch import Settings, warm
    from caseconv.pipeline import CaseError, check_text, extract

ROOT = Path(__file__).resolve().parents[2]


def _spans(value: object) -> list[list[int]]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if (k == "span" or k.endswith("_span")) and v is not None] + [
            s for k, v in value.items() if not (k == "span" or k.endswith("_span")) for s in _spans(v)]
    if isinstance(value, list):
        return [s for v in value for s in _spans(v)]
    return []


def test_one_input(data: bytes) -> None:
    """One fuzz input: any exception other than CaseError, or a span outside the text, is a bug."""
    try:
        text, _ = check_text(data, "fuzz.txt")
    except CaseError:
        return
    report = extract(text, "fuzz")
    for start, end in _spans(report.to_dict(include_text=False)):
        if not 0 <= start <= end <= len(text):
            raise AssertionError(f"span {start}-{end} outside a text of {len(text)} characters")


def _seed(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for case in sorted((ROOT.parent / "shared" / "cases").glob("*.txt")) + [ROOT / "samples" / "sts_psoas.txt"]:
        target = corpus / case.name
        if not target.exists():
            target.write_bytes(case.read_bytes())


def main() -> None:
    corpora = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and not Path(a).is_file()]
    for corpus in corpora:
        _seed(corpus)
    warm(Settings(outputs=()))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
