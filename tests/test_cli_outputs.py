"""`caseconv convert` with images and HL7 v2 messages: every output names the same study."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from hl7apy.parser import parse_message
from pydicom.data import get_testdata_file

from caseconv.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sts_psoas.txt"


def test_hl7v2_messages_are_written_beside_the_other_outputs(tmp_path: Path) -> None:
    out, messages = tmp_path / "out", tmp_path / "hl7"
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(out), "--hl7v2", str(messages), "-j", "1"])
    assert result.exit_code == 0, result.output
    text = (messages / "sts_psoas.hl7").read_text(encoding="utf-8")
    message = parse_message(text.replace("\n", "\r"), find_groups=False)
    assert message.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert "4147007" in text  # the soft tissue mass, coded
    assert {p.name for p in out.iterdir()} == {"sts_psoas.fhir.json", "sts_psoas.sr.dcm"}


def test_images_give_the_study_to_the_bundle_and_the_sr(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), images / "mr.dcm")
    study = pydicom.dcmread(images / "mr.dcm").StudyInstanceUID
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(out), "--images", str(images), "-j", "1"])
    assert result.exit_code == 0, result.output
    sr = pydicom.dcmread(out / "sts_psoas.sr.dcm")
    assert sr.StudyInstanceUID == study
    assert sr.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == study
    bundle = json.loads((out / "sts_psoas.fhir.json").read_text(encoding="utf-8"))
    (imaging_study,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]
    assert {i["value"] for i in imaging_study["identifier"]} >= {f"urn:oid:{study}"}


def test_a_folder_without_images_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path / "out"), "--images", str(empty)])
    assert result.exit_code == 2 and "no DICOM images" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("flag", ["--help"])
def test_convert_help_lists_the_new_options(flag: str) -> None:
    result = CliRunner().invoke(main, ["convert", flag])
    assert "--images" in result.output and "--hl7v2" in result.output
