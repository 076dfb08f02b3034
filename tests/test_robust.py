"""Bad input never crashes or loses data (issue 9).

- input checks: one line naming the file for empty, binary, oversized files; cp1252 and
  UTF-16 read with a warning;
- faults: disk full, an unwritable folder, a failing rename, Ctrl-C mid-write: no partial
  file, no temporary file left, an existing file never replaced without ``overwrite``;
- properties (hypothesis): over arbitrary text and mutated reference cases, `extract`
  raises nothing and every span indexes the input; on a smaller sample every output
  written passes validation.

The long hypothesis run is `HYPOTHESIS_PROFILE=long`; its figures are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseconv import pipeline
from caseconv.cli import main
from caseconv.pipeline import CaseError, check_text, extract, read_case, write_outputs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sts_psoas.txt"
CASES = ROOT.parent / "shared" / "cases"
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"


# -- input checks ------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b" \n\t\r\n ", "the file is empty"),
    ("\u00a0\u3000\n".encode(), "the file is empty (whitespace only)"),
    (b"\xef\xbb\xbf  \n", "the file is empty (whitespace only)"),
    (b"%PDF-1.4\n", "this is a PDF file, not a text file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "this is a PNG image, not a text file"),
    (b"\x00" * 128 + b"DICM" + b"\x02\x00", "this is a DICOM file, not a text file"),
    (b"MRI of the spine\x00\x00", "binary data (NUL bytes)"),
    (bytes(range(1, 32)) * 20, "binary data (control characters)"),
])
def test_refused_inputs_name_the_file(data: bytes, message: str) -> None:
    with pytest.raises(CaseError) as caught:
        check_text(data, "in/case.txt")
    assert str(caught.value).startswith("in/case.txt: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cp1252_is_read_with_a_warning() -> None:
    text, warnings = check_text("A 3\u00d74 cm mass \u2013 caf\u00e9".encode("cp1252"), "c.txt")
    assert text == "A 3\u00d74 cm mass \u2013 caf\u00e9"
    assert warnings == ["not valid UTF-8: read as cp1252"]


def test_utf16_with_bom_is_read_with_a_warning() -> None:
    text, warnings = check_text("MRI: a 3 cm mass.\n".encode("utf-16"), "c.txt")
    assert text == "MRI: a 3 cm mass.\n"
    assert warnings == ["read as UTF-16"]


@pytest.mark.parametrize("char", ["\x1f", "\x0b", "\x7f", "\u2028", "\u3000", "\x85"])
def test_unusual_characters_are_read_one_for_one(char: str) -> None:
    raw = f"MRI: a 3 cm{char}abscess in the left psoas.\nDiagnosis: psoas{char}abscess.\n"
    text, warnings = check_text(raw.encode(), "c.txt")
    assert len(text) == len(raw) and char not in text
    assert warnings == ["2 control or unusual space characters read as spaces or line breaks"]
    assert check_text(b"page 1\n\x0cpage 2\n", "c.txt") == ("page 1\n page 2\n", [])


def test_larger_than_max_bytes(tmp_path: Path) -> None:
    case = tmp_path / "big.txt"
    case.write_bytes(b"mass " * 1000)
    with pytest.raises(CaseError, match=r"big.txt: larger than 100 bytes \(5000\); see --max-bytes"):
        read_case(case, max_bytes=100)
    result = CliRunner().invoke(main, ["convert", str(case), "-o", str(tmp_path / "o"), "--max-bytes", "100"])
    assert result.exit_code == 1
    assert "larger than 100 bytes" in result.output
    assert not list((tmp_path / "o").iterdir())


def test_text_longer_than_the_parser_takes(warm: None) -> None:
    from caseconv.parse.nlp import pipeline as nlp

    text = "mass " * (nlp()[0].max_length // 5 + 1)
    with pytest.raises(CaseError, match="c.txt: .* characters, more than the parser takes"):
        pipeline.convert_text(text, "c", "c.txt", None)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="cannot read"):
        read_case(tmp_path)  # a folder


@pytest.mark.parametrize(("name", "stem"), [
    ("../../etc/passwd.txt", "passwd"), ("a b\u0000c\n.txt", "a_b_c"), (".hidden.txt", "hidden"),
    ("CON.txt", "CON_"), ("...txt", "case"), ("x" * 300 + ".txt", "x" * 100),
    ("r\u00e9sum\u00e9.txt", "r\u00e9sum\u00e9"),
])
def test_safe_output_names(name: str, stem: str) -> None:
    assert pipeline.safe_stem(name) == stem


# -- faults ------------------------------------------------------------------------------------

def _outputs(folder: Path) -> dict[Path, bytes]:
    return {folder / "c.fhir.json": b"{}\n" * 1000, folder / "c.sr.dcm": b"\x00" * 5000}


def _disk_full(handle: int, data: bytes) -> None:
    os.write(handle, data[: len(data) // 2])
    os.close(handle)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_write_file", _disk_full)
    with pytest.raises(CaseError) as caught:
        write_outputs(_outputs(tmp_path))
    assert "No space left on device" in str(caught.value) and caught.value.fatal
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests run as root, which ignores permission bits: refuse the way a read-only folder does
    def refuse(*args: Any, **kw: Any) -> Any:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(pipeline.tempfile, "mkstemp", refuse)
    with pytest.raises(CaseError, match="cannot write: Permission denied") as caught:
        write_outputs(_outputs(tmp_path))
    assert caught.value.fatal
    assert list(tmp_path.iterdir()) == []


def test_failed_second_move_takes_back_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pipeline._place

    def place(temporary: str, path: Path, overwrite: bool) -> None:
        if path.name.endswith(".sr.dcm"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(temporary, path, overwrite)

    monkeypatch.setattr(pipeline, "_place", place)
    with pytest.raises(CaseError) as caught:
        write_outputs(_outputs(tmp_path))
    assert not caught.value.fatal
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(handle: int, data: bytes) -> None:
        os.close(handle)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(_outputs(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_file_appearing_during_write_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pipeline._write_file
    target = tmp_path / "c.fhir.json"

    def racing(handle: int, data: bytes) -> None:
        real(handle, data)
        if not target.exists():
            target.write_text("someone else's", encoding="utf-8")

    monkeypatch.setattr(pipeline, "_write_file", racing)
    with pytest.raises(CaseError, match="exists"):
        write_outputs(_outputs(tmp_path))
    assert target.read_text(encoding="utf-8") == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.fhir.json"]


def test_cli_disk_full_stops_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"c{i}.txt").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(pipeline, "_write_file", _disk_full)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(folder), "-o", str(out), "--jobs", "1"])
    assert result.exit_code == 1
    assert "No space left on device" in result.output
    assert "1 failed, 2 skipped" in result.output and "stopped:" in result.output
    assert list(out.iterdir()) == []


# -- properties --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warm() -> None:
    """Load the NLP pipeline and tables once for the module (hypothesis runs thousands of examples)."""
    from caseconv.batch import Settings, warm

    warm(Settings(outputs=()))


def _spans(value: Any) -> list[list[int]]:
    """Every span in a report's JSON: ``span`` and ``*_span`` keys, at any depth."""
    found: list[list[int]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if (key == "span" or key.endswith("_span")) and item is not None:
                found.append(item)
            else:
                found.extend(_spans(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_spans(item))
    return found


def _check_extract(text: str) -> None:
    """The property: bytes pass the input checks or are refused with a CaseError; then extract
    raises nothing and every span lies inside the text."""
    try:
        text, _ = check_text(text.encode("utf-8", "surrogatepass"), "case.txt")
    except CaseError:
        return
    report = extract(text, "case")
    for start, end in _spans(report.to_dict(include_text=False)):
        assert 0 <= start <= end <= len(text), (start, end, len(text))
    for finding in report.findings:
        assert finding.span.end > finding.span.start


WORDS = ["MRI", "CT", "T2", "T1-weighted", "Fig 1.", "Fig. 2A:", "Figure 3 -", "Fig Fig Fig", "12.1x11.5 cm",
         "1x1x1x1", "3 mm", "L4-L5", "C2", "no", "not", "without", "left", "right", "bilateral", "mass",
         "abscess", "enhancement", "psoas", "kidney", "of the", "with", "and", "-", "--", "\u2013", "-\n", "\n",
         "\n\n", ":", "Findings:", "IMPRESSION:", "Differential diagnosis:", ".", ",", "(", ")", "  ",
         "\ufb01", "\u00a0", "\r\n", "\u00d7", "\t", "year-old", "woman", "70", "1234567890", "hyper-\nintense"]
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=80).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=120).map("".join),
)


@settings(max_examples=20_000 if LONG else 2_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_extract_never_raises_and_spans_index_the_input(warm: None, text: str) -> None:
    _check_extract(text)


def _reference_texts() -> list[str]:
    if not CASES.is_dir():
        return [SAMPLE.read_text(encoding="utf-8")]
    return [p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.txt"))]


@st.composite
def mutated_cases(draw: st.DrawFn) -> tuple[str, str]:
    """A reference case with lines deleted, duplicated or swapped, words hyphenated across
    lines, characters replaced; and an encoding to read it through."""
    lines = draw(st.sampled_from(_reference_texts())).split("\n")
    for _ in range(draw(st.integers(0, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "hyphenate", "replace", "truncate"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "hyphenate" and len(lines[i]) > 2:
            k = draw(st.integers(1, len(lines[i]) - 1))
            lines[i: i + 1] = [lines[i][:k] + "-", lines[i][k:]]
        elif action == "replace" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.characters()) + lines[i][k + 1:]
        elif action == "truncate":
            lines = lines[: i + 1]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return "\n".join(lines), encoding


@settings(max_examples=2_000 if LONG else 150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=mutated_cases())
def test_mutated_cases_extract_cleanly(warm: None, case: tuple[str, str]) -> None:
    text, encoding = case
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    try:
        decoded, _ = check_text(data, "case.txt")
    except CaseError:
        return
    _check_extract(decoded)


@settings(max_examples=200 if LONG else 12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=mutated_cases())
def test_mutated_cases_write_valid_outputs(warm: None, tmp_path_factory: pytest.TempPathFactory,
                                           case: tuple[str, str]) -> None:
    from caseconv.dicom.validate import validate_sr
    from caseconv.fhir.validate import validate_bundle

    text, encoding = case
    try:
        text, _ = check_text(text.encode(encoding, "replace"), "case.txt")
    except CaseError:
        return
    out = tmp_path_factory.mktemp("out")
    result, _, written, _ = pipeline.convert_text(text, "case", "case.txt", out)
    for path in written:
        problems = validate_bundle(path) if path.suffix == ".json" else validate_sr(path)
        assert problems == [], (path.name, problems[:5])
