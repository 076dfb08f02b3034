"""send_fhir against Medplum's engine (behind a token-checking wrapper) and scripted stubs."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
from fhir_helpers.cases import minimal_report, sample_report
from servers import medplum as medplum_server
from servers.stub import Reply, free_port, http_stub, self_signed

from caseconv.deliver import DeliveryError, as_transaction, send_fhir
from caseconv.deliver.http import auth_headers
from caseconv.fhir import build_bundle

TOKEN_ENV = "CASECONV_TEST_FHIR_TOKEN"
FAST = {"retries": 2, "backoff": 0.01, "token_env": TOKEN_ENV}


@pytest.fixture(scope="module")
def medplum():
    reason = medplum_server.missing()
    if reason:
        pytest.skip(reason)
    with medplum_server.medplum("s3cret-test-token") as running:
        yield running


@pytest.fixture
def token(monkeypatch, medplum):
    monkeypatch.setenv(TOKEN_ENV, medplum.token)
    return medplum.token


def get(medplum, path: str) -> dict:
    request = urllib.request.Request(medplum.base + path,
                                     headers={"Authorization": f"Bearer {medplum.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_transaction_is_stored_and_read_back(medplum, token):
    bundle = build_bundle(sample_report(), bundle_type="transaction")
    result = send_fhir(bundle, medplum.base, **FAST)
    assert result.ok and result.attempts == 1, result.summary()
    assert [i.status for i in result.items] == ["201"] * len(bundle["entry"])
    assert [i.item for i in result.items] == [e["fullUrl"] for e in bundle["entry"]]

    found = get(medplum, "/Observation?code=http://snomed.info/sct|103339001")
    (long_axis,) = [e["resource"] for e in found["entry"]]
    assert long_axis["valueQuantity"]["value"] == 12.1
    patient = long_axis["subject"]["reference"]
    assert any(i.detail.startswith(patient) for i in result.items)

    # conditional creates: the same report again stores nothing new
    again = send_fhir(bundle, medplum.base, **FAST)
    assert again.ok and [i.status for i in again.items] == ["200"] * len(bundle["entry"])
    assert len(get(medplum, "/Observation?code=http://snomed.info/sct|103339001")["entry"]) == 1


def test_a_collection_is_sent_as_a_transaction_with_conditional_creates(medplum, token):
    collection = build_bundle(minimal_report())
    transaction = as_transaction(collection)
    assert transaction["type"] == "transaction" and collection["type"] == "collection"
    assert all(e["request"]["method"] == "POST" and e["request"]["ifNoneExist"].startswith("identifier=")
               for e in transaction["entry"])
    study = next(e for e in transaction["entry"] if e["resource"]["resourceType"] == "ImagingStudy")
    assert study["request"]["ifNoneExist"].startswith("identifier=urn:dicom:uid|")
    first = send_fhir(collection, medplum.base, **FAST)
    second = send_fhir(collection, medplum.base, **FAST)
    assert [i.status for i in first.items] == ["201"] * len(collection["entry"])
    assert [i.status for i in second.items] == ["200"] * len(collection["entry"])
    assert as_transaction(transaction) is transaction


def test_the_token_comes_from_the_environment_and_is_checked(medplum, monkeypatch):
    bundle = build_bundle(minimal_report(), bundle_type="transaction")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(DeliveryError) as caught:
        send_fhir(bundle, medplum.base, **FAST)
    assert str(caught.value) == (f"POST {medplum.base}: HTTP 401 Unauthorized: no bearer token "
                                 f"(no token: ${TOKEN_ENV} is not set)")
    assert caught.value.attempts == 1  # a 401 is not retried
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    with pytest.raises(DeliveryError, match="invalid token"):
        send_fhir(bundle, medplum.base, **FAST)


def test_the_bearer_header_is_what_the_server_sees(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "abc")
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    with http_stub([Reply(200, answer)]) as stub:
        send_fhir({"resourceType": "Bundle", "type": "transaction", "entry": []}, stub.url + "/fhir", **FAST)
    (request,) = stub.requests
    assert request["headers"]["Authorization"] == "Bearer abc"
    assert request["headers"]["Content-Type"].startswith("application/fhir+json")
    assert request["path"] == "/fhir"


def test_no_token_over_plain_http_to_another_host(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "abc")
    with pytest.raises(DeliveryError, match="use https"):
        auth_headers("http://fhir.example.org/r4", TOKEN_ENV)
    assert auth_headers("https://fhir.example.org/r4", TOKEN_ENV) == {"Authorization": "Bearer abc"}
    assert auth_headers("http://localhost:8080", TOKEN_ENV) == {"Authorization": "Bearer abc"}
    assert auth_headers("http://fhir.example.org/r4", None) == {}


def transaction_answer(n: int) -> dict:
    return {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": f"Observation/{i}/_history/1"}}
                      for i in range(n)]}


def test_503_then_success_is_retried(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    bundle = build_bundle(minimal_report(), bundle_type="transaction")
    n = len(bundle["entry"])
    with http_stub([Reply(503, {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "busy"}]}),
                    Reply(429, "slow down", headers={"Retry-After": "0"}),
                    Reply(200, transaction_answer(n))]) as stub:
        result = send_fhir(bundle, stub.url, **FAST)
    assert result.ok and result.attempts == 3 and len(stub.requests) == 3
    assert stub.requests[0]["body"] == stub.requests[2]["body"]  # the same transaction each time
    assert result.items[0].detail == "Observation/0/_history/1"


def test_persistent_503_gives_a_clear_error_after_the_retries(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "down for maintenance"}]}
    with http_stub([Reply(503, outcome)]) as stub:
        with pytest.raises(DeliveryError) as caught:
            send_fhir(build_bundle(minimal_report(), bundle_type="transaction"), stub.url, **FAST)
    assert str(caught.value) == (f"POST {stub.url}: HTTP 503 Service Unavailable: down for maintenance "
                                 "(after 3 attempts)")
    assert len(stub.requests) == 3


def test_a_400_is_not_retried(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Invalid resource"}]}
    with http_stub([Reply(400, outcome)]) as stub:
        with pytest.raises(DeliveryError, match="HTTP 400 Bad Request: Invalid resource$"):
            send_fhir(build_bundle(minimal_report(), bundle_type="transaction"), stub.url, **FAST)
    assert len(stub.requests) == 1


def test_server_down_is_retried_then_a_clear_error(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    url = f"http://127.0.0.1:{free_port()}/fhir"
    with pytest.raises(DeliveryError) as caught:
        send_fhir(build_bundle(minimal_report(), bundle_type="transaction"), url, timeout=2, **FAST)
    assert str(caught.value).startswith(f"POST {url}: cannot connect: ")
    assert "refused" in str(caught.value).lower() and str(caught.value).endswith("(after 3 attempts)")
    assert caught.value.attempts == 3


def test_a_time_out_is_retried_then_a_clear_error(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with http_stub([Reply(200, transaction_answer(1), delay=1.0)]) as stub:
        with pytest.raises(DeliveryError) as caught:
            send_fhir(build_bundle(minimal_report(), bundle_type="transaction"), stub.url, timeout=0.2,
                      retries=1, backoff=0.01, token_env=TOKEN_ENV)
    assert str(caught.value) == f"POST {stub.url}: no answer within 0.2 s (after 2 attempts)"
    assert len(stub.requests) == 2


def test_entries_the_server_refused_are_failures_in_the_result(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    bundle = build_bundle(minimal_report(), bundle_type="transaction")
    answer = transaction_answer(len(bundle["entry"]))
    answer["entry"][0]["response"] = {"status": "412 Precondition Failed",
                                      "outcome": {"resourceType": "OperationOutcome",
                                                  "issue": [{"diagnostics": "multiple matches"}]}}
    with http_stub([Reply(200, answer)]) as stub:
        result = send_fhir(bundle, stub.url, **FAST)
    assert not result.ok
    (failure,) = result.failures
    assert failure.status == "412 Precondition Failed" and failure.detail == "multiple matches"
    assert "multiple matches" in result.summary()


def test_refuses_what_is_not_a_transaction_or_collection():
    with pytest.raises(DeliveryError, match="not 'batch'"):
        send_fhir({"resourceType": "Bundle", "type": "batch", "entry": []}, "http://127.0.0.1:1")
    with pytest.raises(DeliveryError, match="not a FHIR Bundle"):
        send_fhir({"resourceType": "Patient"}, "http://127.0.0.1:1")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_is_verified_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv(TOKEN_ENV, "abc")
    context, cert = self_signed(tmp_path)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    with http_stub([Reply(200, answer)], tls=context) as stub:
        with pytest.raises(DeliveryError, match="TLS verification failed: .*certificate verify failed") as caught:
            send_fhir(bundle, stub.url, **FAST)
        assert caught.value.attempts == 1 and stub.requests == []  # not retried, token never sent
        assert send_fhir(bundle, stub.url, verify=str(cert), **FAST).ok  # a CA the user trusts
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer abc"
