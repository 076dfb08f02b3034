"""C-STORE and STOW-RS of our SRs to a real Orthanc, read back with QIDO-RS and WADO-RS.

Orthanc runs in its own network namespace behind a relay on 127.0.0.1
(`servers.orthanc`); the tests skip, naming what is missing, when Orthanc, its DICOMweb
plugin or `unshare` is not there (scripts/deps/deliver.sh installs them).
"""

from __future__ import annotations

import email.parser
import email.policy
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from fhir_helpers.cases import TEXT, sample_report
from servers import orthanc as orthanc_server
from servers.stub import Reply, free_port, http_stub, tcp_stub

from caseconv import ids
from caseconv.deliver import DeliveryError, send_dicomweb, send_pacs
from caseconv.deliver.dicom import multipart
from caseconv.dicom import write_sr

FAST = {"retries": 2, "backoff": 0.01}


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    reason = orthanc_server.missing()
    if reason:
        pytest.skip(reason)
    with orthanc_server.orthanc(tmp_path_factory.mktemp("orthanc")) as running:
        yield running


def sr_file(tmp_path: Path, text_suffix: str = "", template: str = "1500") -> Path:
    """An SR of the sample case; a different suffix gives a different case (new UIDs)."""
    report = sample_report().replace(text=TEXT + text_suffix)
    path = tmp_path / f"sr{template}-{report.digest[:12]}.dcm"
    write_sr(report, path, template=template)
    return path


def qido_instances(orthanc, uid: str) -> list[dict]:
    return orthanc.json(f"/dicom-web/instances?SOPInstanceUID={uid}", "application/dicom+json")


def wado(orthanc, dataset: pydicom.Dataset) -> pydicom.Dataset:
    """WADO-RS retrieve of one instance, the multipart answer parsed with the email package."""
    path = (f"/dicom-web/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
            f"/instances/{dataset.SOPInstanceUID}")
    status, body = orthanc.get(path, 'multipart/related; type="application/dicom"')
    assert status == 200, body[:300]
    # Orthanc's Content-Type header is not kept by urllib's read(): find the boundary in the body
    boundary = body.split(b"\r\n", 1)[0][2:].decode("ascii")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f'Content-Type: multipart/related; boundary="{boundary}"\r\n\r\n'.encode() + body)
    (part,) = list(message.iter_parts())
    return pydicom.dcmread(BytesIO(part.get_payload(decode=True)))


def numbers(dataset: pydicom.Dataset) -> dict[str, tuple[float, str]]:
    """Concept name meaning -> (value, unit) of every NUM item in the content tree."""
    found: dict[str, tuple[float, str]] = {}

    def walk(items) -> None:
        for item in items:
            if item.ValueType == "NUM":
                measured = item.MeasuredValueSequence[0]
                found[item.ConceptNameCodeSequence[0].CodeMeaning] = (
                    float(measured.NumericValue), measured.MeasurementUnitsCodeSequence[0].CodeValue)
            walk(item.get("ContentSequence", []))

    walk(dataset.ContentSequence)
    return found


def test_c_store_then_read_back_with_qido_and_wado(orthanc, tmp_path):
    path = sr_file(tmp_path, "c-store\n")
    sent = pydicom.dcmread(path)
    result = send_pacs([path], orthanc.host, orthanc.dicom_port, calling_aet=orthanc_server.CALLING_AET,
                       called_aet=orthanc.aet)
    assert result.ok and result.attempts == 1
    assert [(i.status, i.detail) for i in result.items] == [("0x0000", sent.SOPInstanceUID)]

    (found,) = qido_instances(orthanc, sent.SOPInstanceUID)
    assert found["00080016"]["Value"] == [sent.SOPClassUID]
    assert found["0020000D"]["Value"] == [ids.study_instance_uid(sample_report().replace(
        text=TEXT + "c-store\n"))]
    back = wado(orthanc, sent)
    assert back.SOPInstanceUID == sent.SOPInstanceUID
    assert numbers(back)["Long axis"] == (12.1, "cm") == numbers(sent)["Long axis"]
    assert path.exists()  # nothing local is deleted


def test_stow_rs_then_read_back_and_no_duplicate_on_second_send(orthanc, tmp_path):
    paths = [sr_file(tmp_path, "stow\n"), sr_file(tmp_path, "stow\n", template="2000")]
    datasets = [pydicom.dcmread(p) for p in paths]
    result = send_dicomweb(paths, orthanc.dicomweb, token_env=None)
    assert result.ok, result.summary()
    assert [i.detail for i in result.items] == [d.SOPInstanceUID for d in datasets]
    assert [i.status for i in result.items] == ["stored", "stored"]
    before = len(orthanc.json("/instances"))

    again = send_dicomweb(paths, orthanc.dicomweb, token_env=None)
    assert again.ok
    pacs = send_pacs(paths[:1], orthanc.host, orthanc.dicom_port, calling_aet=orthanc_server.CALLING_AET,
                     called_aet=orthanc.aet)
    assert pacs.ok
    assert len(orthanc.json("/instances")) == before
    for dataset in datasets:
        assert len(qido_instances(orthanc, dataset.SOPInstanceUID)) == 1
    back = wado(orthanc, datasets[1])
    assert back.SOPClassUID == datasets[1].SOPClassUID  # Enhanced SR (TID 2000)
    assert back.ContentSequence[0].ConceptNameCodeSequence[0].CodeValue == \
        datasets[1].ContentSequence[0].ConceptNameCodeSequence[0].CodeValue


def test_the_association_proposes_exactly_the_files_sop_classes(orthanc, tmp_path):
    from caseconv.deliver.dicom import _contexts, _read

    paths = [sr_file(tmp_path, "contexts\n"), sr_file(tmp_path, "contexts\n", template="2000")]
    contexts = _contexts(_read(paths))
    assert set(contexts) == {str(pydicom.dcmread(p).SOPClassUID) for p in paths}
    assert all(len(syntaxes) in (2, 3) for syntaxes in contexts.values())
    assert send_pacs(paths, orthanc.host, orthanc.dicom_port, calling_aet=orthanc_server.CALLING_AET,
                     called_aet=orthanc.aet).ok


def test_wrong_called_aet_is_rejected_at_once_with_a_clear_message(orthanc, tmp_path):
    path = sr_file(tmp_path, "reject\n")
    with pytest.raises(DeliveryError) as caught:
        send_pacs([path], orthanc.host, orthanc.dicom_port, calling_aet=orthanc_server.CALLING_AET,
                  called_aet="NOTORTHANC", **FAST)
    message = str(caught.value)
    assert "association rejected" in message and "Called AE title not recognised" in message
    assert "\n" not in message
    assert caught.value.attempts == 1  # a permanent rejection is not retried
    with pytest.raises(DeliveryError, match="Calling AE title not recognised"):
        send_pacs([path], orthanc.host, orthanc.dicom_port, calling_aet="STRANGER", called_aet=orthanc.aet,
                  **FAST)
    assert qido_instances(orthanc, pydicom.dcmread(path).SOPInstanceUID) == []
    assert path.exists()


def test_pacs_down_is_retried_then_a_clear_error(tmp_path):
    path = sr_file(tmp_path, "down\n")
    port = free_port()
    with pytest.raises(DeliveryError) as caught:
        send_pacs([path], "127.0.0.1", port, calling_aet="CASECONV", called_aet="PACS", timeout=2, **FAST)
    assert str(caught.value) == f"C-STORE to PACS@127.0.0.1:{port}: cannot connect (after 3 attempts)"
    assert caught.value.attempts == 3
    assert path.exists()


def test_a_pacs_that_never_answers_is_retried_then_a_clear_error(tmp_path):
    path = sr_file(tmp_path, "silent\n")
    with tcp_stub("silent") as (host, port, received):
        with pytest.raises(DeliveryError) as caught:
            send_pacs([path], host, port, calling_aet="CASECONV", called_aet="PACS", timeout=0.5, retries=1,
                      backoff=0.01)
    assert str(caught.value) == (f"C-STORE to PACS@{host}:{port}: association aborted or not answered "
                                 "within 0.5 s (after 2 attempts)")
    assert len(received) == 2 and received[0][:1] == b"\x01"  # two A-ASSOCIATE-RQ PDUs


def test_bad_input_fails_before_any_network(tmp_path):
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("hello")
    with pytest.raises(DeliveryError, match="cannot read"):
        send_pacs([not_dicom], "127.0.0.1", 1, calling_aet="A", called_aet="B")
    with pytest.raises(ValueError, match="called_aet"):
        send_pacs([sr_file(tmp_path)], "127.0.0.1", 1, calling_aet="A", called_aet="WAY_TOO_LONG_AE_TITLE")
    with pytest.raises(DeliveryError, match="no files"):
        send_dicomweb([], "http://127.0.0.1:1")


def test_stow_503_then_success_and_a_multipart_body(tmp_path):
    path = sr_file(tmp_path, "stub\n")
    uid = pydicom.dcmread(path).SOPInstanceUID
    answer = {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]}}]}}
    with http_stub([Reply(503, "busy", headers={"Retry-After": "0"}), Reply(200, answer)]) as stub:
        result = send_dicomweb([path], stub.url + "/dicom-web/", token_env=None, **FAST)
    assert result.ok and result.attempts == 2
    first = stub.requests[0]
    assert first["path"] == "/dicom-web/studies"
    content_type = first["headers"]["Content-Type"]
    assert content_type.startswith('multipart/related; type="application/dicom"; boundary=')
    boundary = content_type.split("boundary=")[1]
    assert first["body"].startswith(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
    assert path.read_bytes() in first["body"]


def test_stow_failures_are_per_file(tmp_path):
    path = sr_file(tmp_path, "failed\n")
    uid = pydicom.dcmread(path).SOPInstanceUID
    answer = {"00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]},
                                                  "00081197": {"vr": "US", "Value": [272]}}]}}
    with http_stub([Reply(202, answer)]) as stub:
        result = send_dicomweb([path], stub.url, token_env=None, **FAST)
    assert not result.ok and result.items[0].status == "failed 272"


def test_multipart_layout():
    body = multipart([b"A", b"B"], "xyz")
    assert body == (b"--xyz\r\nContent-Type: application/dicom\r\n\r\nA\r\n"
                    b"--xyz\r\nContent-Type: application/dicom\r\n\r\nB\r\n--xyz--\r\n")
