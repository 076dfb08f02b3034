"""`caseconv send`: the CLI over the senders, against an MLLP listener and Medplum's engine."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from servers import medplum as medplum_server
from servers.mllp import mllp_listener
from servers.stub import free_port

import caseconv
from caseconv.cli_send import send
from caseconv.fhir import build_bundle, dumps
from caseconv.hl7v2 import build_oru

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sts_psoas.txt"


@pytest.fixture(scope="module")
def report():
    return caseconv.extract(SAMPLE.read_text(encoding="utf-8"), "sts_psoas")


def test_hl7v2_message_is_sent_and_acknowledged(report, tmp_path: Path) -> None:
    message = build_oru(report)
    path = tmp_path / "sts_psoas.hl7"
    path.write_text(message, encoding="utf-8")
    with mllp_listener() as listener:
        result = CliRunner().invoke(send, [str(tmp_path), "--mllp", f"{listener.host}:{listener.port}"])
        assert result.exit_code == 0, result.output
        assert listener.received == [message]
    assert path.exists()


def test_fhir_transaction_is_stored_with_the_token_from_the_environment(report, tmp_path: Path,
                                                                         monkeypatch) -> None:
    reason = medplum_server.missing()
    if reason:
        pytest.skip(reason)
    path = tmp_path / "sts_psoas.fhir.json"
    path.write_text(dumps(build_bundle(report)), encoding="utf-8")
    with medplum_server.medplum("cli-token") as server:
        monkeypatch.delenv("CASECONV_FHIR_TOKEN", raising=False)
        refused = CliRunner().invoke(send, [str(path), "--fhir", server.base])
        assert refused.exit_code == 1 and "401" in refused.output
        monkeypatch.setenv("CASECONV_FHIR_TOKEN", server.token)
        result = CliRunner().invoke(send, [str(path), "--fhir", server.base])
        assert result.exit_code == 0, result.output
        request = urllib.request.Request(server.base + "/Observation?code=4147007",
                                         headers={"Authorization": f"Bearer {server.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            found = json.loads(response.read())
        assert found.get("total", len(found.get("entry", []))) >= 1


def test_a_target_is_required() -> None:
    result = CliRunner().invoke(send, [str(SAMPLE)])
    assert result.exit_code == 2 and "--fhir" in result.output


def test_a_bad_host_port_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(send, [str(tmp_path), "--mllp", "localhost"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


def test_a_receiver_that_is_down_fails_clearly(report, tmp_path: Path) -> None:
    path = tmp_path / "case.hl7"
    path.write_text(build_oru(report), encoding="utf-8")
    result = CliRunner().invoke(send, [str(path), "--mllp", f"127.0.0.1:{free_port()}", "--retries", "1"])
    assert result.exit_code == 1 and "caseconv: error:" in result.output
    assert path.exists()


def test_sr_is_stored_in_orthanc_by_c_store_and_stow(report, tmp_path: Path, tmp_path_factory) -> None:
    from servers import orthanc as orthanc_server

    from caseconv.dicom import write_sr

    reason = orthanc_server.missing()
    if reason:
        pytest.skip(reason)
    path = tmp_path / "sts_psoas.sr.dcm"
    write_sr(report, path)
    with orthanc_server.orthanc(tmp_path_factory.mktemp("orthanc-cli")) as server:
        result = CliRunner().invoke(send, [str(path), "--pacs", f"{server.host}:{server.dicom_port}",
                                           "--calling-aet", orthanc_server.CALLING_AET,
                                           "--called-aet", server.aet, "--dicomweb", server.dicomweb])
        assert result.exit_code == 0, result.output
        studies = server.json("/dicom-web/studies", "application/dicom+json")
        assert [s["0020000D"]["Value"][0] for s in studies] == [caseconv.ids.study_instance_uid(report)]


def test_convert_send_converts_then_delivers(tmp_path: Path) -> None:
    from caseconv.cli import main

    with mllp_listener() as listener:
        result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path / "out"), "--hl7v2",
                                           str(tmp_path / "hl7"), "-j", "1", "--send",
                                           f"mllp={listener.host}:{listener.port}"])
        assert result.exit_code == 0, result.output
        assert listener.received == [(tmp_path / "hl7" / "sts_psoas.hl7").read_bytes().decode("utf-8")]


def test_convert_send_needs_kind_and_target(tmp_path: Path) -> None:
    from caseconv.cli import main

    result = CliRunner().invoke(main, ["convert", str(SAMPLE), "-o", str(tmp_path), "--send", "ftp://x"])
    assert result.exit_code == 2 and "KIND=TARGET" in result.output


def test_every_reference_case_is_delivered_to_all_three_systems(cases_dir: Path, tmp_path: Path,
                                                                 tmp_path_factory, monkeypatch) -> None:
    from servers import orthanc as orthanc_server

    from caseconv.cli import main

    for reason in (medplum_server.missing(), orthanc_server.missing()):
        if reason:
            pytest.skip(reason)
    out = tmp_path / "out"
    converted = CliRunner().invoke(main, ["convert", str(cases_dir), "-o", str(out), "--bundle-type", "transaction",
                                          "--hl7v2", str(out / "hl7"), "-j", "1"])
    assert converted.exit_code == 0, converted.output
    cases = sorted(p.stem for p in cases_dir.glob("*.txt"))
    assert sorted(p.name.split(".")[0] for p in out.glob("*.sr.dcm")) == cases
    with medplum_server.medplum("all-cases") as fhir, mllp_listener() as listener, \
            orthanc_server.orthanc(tmp_path_factory.mktemp("orthanc-all")) as pacs:
        monkeypatch.setenv("CASECONV_FHIR_TOKEN", fhir.token)
        result = CliRunner().invoke(send, [str(out), "--fhir", fhir.base, "--mllp", f"{listener.host}:{listener.port}",
                                           "--pacs", f"{pacs.host}:{pacs.dicom_port}",
                                           "--calling-aet", orthanc_server.CALLING_AET, "--called-aet", pacs.aet])
        assert result.exit_code == 0, result.output
        assert len(listener.received) == len(cases)
        studies = pacs.json("/dicom-web/studies", "application/dicom+json")
        assert len(studies) == len(cases)
        request = urllib.request.Request(fhir.base + "/DiagnosticReport",
                                         headers={"Authorization": f"Bearer {fhir.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            reports = json.loads(response.read())
        assert len(reports.get("entry", [])) == len(cases)
