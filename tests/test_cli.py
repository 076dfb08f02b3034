"""The `caseconv convert` and `extract` commands: inputs, outputs, exit codes, start-up cost.

CliRunner for most cases (fast, in-process); subprocesses where a real pipe, real worker
processes or a fresh interpreter matter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from caseconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sts_psoas.txt"
CASECONV = [str(Path(sys.executable).with_name("caseconv"))]


def _run(*args: str, stdin: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CI": "1"}
    return subprocess.run([*CASECONV, *args], input=stdin, capture_output=True, timeout=timeout, env=env,
                          check=False)


@pytest.fixture()
def cases(tmp_path: Path) -> Path:
    """A folder with the sample, a nested copy and a file that is not a case."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, folder / "a.txt")
    (folder / "sub" / "b.txt").write_text(SAMPLE.read_text(encoding="utf-8") + "\nSecond copy.\n", encoding="utf-8")
    (folder / "notes.md").write_text("not taken: only *.txt by default\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_load_no_heavy_library(flag: str) -> None:
    code = ("import sys\nfrom caseconv.cli import main\n"
            f"try:\n    main(['{flag}'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'medspacy', 'spacy', 'highdicom', 'fhir', 'pydicom', 'rich'})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "LOADED=", result.stdout


def test_convert_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(main, ["convert", "--help"])
    assert result.exit_code == 0
    for text in ("Exit codes: 0", "1 some inputs failed", "2 usage error", "130", "--jobs", "--format",
                 "--summary-json", "--max-bytes"):
        assert text in result.output


def test_directory_input_writes_every_case(cases: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(cases), "-o", str(out), "--summary-json",
                                       str(tmp_path / "summary.json")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.fhir.json", "a.sr.dcm", "b.fhir.json", "b.sr.dcm"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["cases"] == summary["converted"] == 2 and summary["failed"] == 0
    assert summary["findings"] > 0 and 0 < summary["coded_share"] <= 1
    assert summary["exit_code"] == 0


def test_glob_selects_files(cases: Path, tmp_path: Path) -> None:
    (cases / "c.case").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(cases), "-o", str(tmp_path / "out"), "--glob", "*.case"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.fhir.json", "c.sr.dcm"]


def test_same_stem_from_two_folders_gets_distinct_names(tmp_path: Path) -> None:
    for sub in ("x", "y"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(SAMPLE, tmp_path / "in" / sub / "case.txt")
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "case.fhir.json", "case.sr.dcm", "case_2.fhir.json", "case_2.sr.dcm"}


def test_failing_file_in_a_batch_exit_1_rest_written(cases: Path, tmp_path: Path) -> None:
    (cases / "empty.txt").write_text("  \n\t\n", encoding="utf-8")
    (cases / "scan.txt").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(cases), "-o", str(out), "--summary-json",
                                       str(tmp_path / "s.json")])
    assert result.exit_code == 1
    assert f"caseconv: error: {cases / 'empty.txt'}: the file is empty" in result.output
    assert f"{cases / 'scan.txt'}: this is a PDF file, not a text file" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.fhir.json", "a.sr.dcm", "b.fhir.json", "b.sr.dcm"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["converted"], summary["failed"]) == (2, 2)
    assert {f["source"] for f in summary["failures"]} == {str(cases / "empty.txt"), str(cases / "scan.txt")}


def test_existing_outputs_need_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["convert", str(SAMPLE), "-o", str(out)]).exit_code == 0
    before = (out / "sts_psoas.fhir.json").stat().st_mtime_ns
    (out / "sts_psoas.fhir.json").write_text("{}", encoding="utf-8")
    again = runner.invoke(main, ["convert", str(SAMPLE), "-o", str(out)])
    assert again.exit_code == 1
    assert "exists (use --overwrite to replace it)" in again.output
    assert (out / "sts_psoas.fhir.json").read_text() == "{}"
    forced = runner.invoke(main, ["convert", str(SAMPLE), "-o", str(out), "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert (out / "sts_psoas.fhir.json").read_text() != "{}"
    assert (out / "sts_psoas.fhir.json").stat().st_mtime_ns >= before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("args", [
    ["convert", str(SAMPLE)],                                   # neither -o nor ndjson
    ["convert", "does-not-exist.txt", "-o", "out"],             # missing input
    ["convert", str(SAMPLE), "-o", "out", "--jobs", "0"],
    ["convert", str(SAMPLE), "-o", "out", "--format", "xml"],
    ["convert", "-o", "out"],                                   # no case at all
    ["nonsense"],
])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no case files found" in result.output


def test_output_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file", encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2  # an existing file named as the output folder: a usage error
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path / "out" / "sub")])
    assert result.exit_code == 1
    assert "cannot create the output folder" in result.output


def test_stdin_to_ndjson() -> None:
    result = CliRunner().invoke(main, ["convert", "-", "--format", "ndjson"], input=SAMPLE.read_bytes())
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["source"] == "-" and record["case"] == "stdin" and record["ok"] is True
    assert record["report"]["findings"] and "text" not in record["report"]
    assert record["bundle"]["resourceType"] == "Bundle"
    import base64

    assert base64.b64decode(record["sr"])[128:132] == b"DICM"


def test_ndjson_with_outdir_lists_paths_and_failures_in_order(cases: Path, tmp_path: Path) -> None:
    (cases / "0_empty.txt").write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(cases), "--format", "ndjson", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["case"] for r in records] == ["0_empty", "a", "b"]
    assert records[0]["ok"] is False and "empty" in records[0]["error"]
    assert records[1]["outputs"] == [str(tmp_path / "o" / "a.fhir.json"), str(tmp_path / "o" / "a.sr.dcm")]
    assert "bundle" not in records[1]


def test_outputs_fhir_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path), "--outputs", "fhir"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sts_psoas.fhir.json"]


def test_no_case_content_warns_and_writes_valid_bundle(tmp_path: Path) -> None:
    case = tmp_path / "note.txt"
    case.write_text("Thank you for the referral. Kind regards.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(case), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "no recognisable case content" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["note.fhir.json"]
    check = CliRunner().invoke(main, ["validate", str(tmp_path / "out" / "note.fhir.json")])
    assert check.exit_code == 0, check.output


def test_default_output_never_shows_case_text(tmp_path: Path) -> None:
    case = tmp_path / "c.txt"
    case.write_text("Patient Jane Quixotic-Smith had an MRI.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(case), "-o", str(tmp_path / "out")])
    assert "Quixotic" not in result.output


# -- real processes: pipes, worker processes ---------------------------------------------------

def test_subprocess_stdin_ndjson_is_one_line_per_case() -> None:
    result = _run("convert", "-", "--format", "ndjson", stdin=SAMPLE.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 2
    assert json.loads(lines[0])["case"] == "stdin"
    assert b"\x1b[" not in result.stderr  # no progress bar or colours in a pipe
    assert b"caseconv: 1 case: 1 converted" in result.stderr


def test_subprocess_jobs_2_keeps_input_order(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    text = SAMPLE.read_text(encoding="utf-8")
    for i in range(6):
        (folder / f"case{i}.txt").write_text(text + f"\nCase number {i}.\n", encoding="utf-8")
    (folder / "case3.txt").write_bytes(b"\x00\x01binary")
    out = tmp_path / "out"
    result = _run("convert", str(folder), "-o", str(out), "--jobs", "2", "--format", "ndjson",
                  "--summary-json", str(tmp_path / "s.json"))
    assert result.returncode == 1, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["case"] for r in records] == [f"case{i}" for i in range(6)]
    assert [r["ok"] for r in records] == [True, True, True, False, True, True]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["jobs"] == 2 and summary["converted"] == 5 and summary["failed"] == 1
    assert len(list(out.glob("*.sr.dcm"))) == 5


def test_subprocess_outputs_pass_validate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("convert", str(SAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr.decode()
    check = _run("validate", *(str(p) for p in sorted(out.iterdir())))
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_extract_stdin_checks_input() -> None:
    result = CliRunner().invoke(main, ["extract", "-"], input=b"   \n")
    assert result.exit_code == 1
    assert "caseconv: error: -: the file is empty" in result.output
