"""send_mllp against hl7apy's MLLP listener (strict validation) and misbehaving stubs."""

from __future__ import annotations

import pytest
from fhir_helpers.cases import minimal_report, sample_report
from servers.mllp import ack, mllp_listener
from servers.stub import free_port, tcp_stub

from caseconv.deliver import DeliveryError, send_mllp
from caseconv.deliver.mllp import check_ack, control_id, frame
from caseconv.hl7v2 import build_oru

FAST = {"retries": 1, "backoff": 0.01}


@pytest.fixture
def listener():
    with mllp_listener() as running:
        yield running


def test_valid_messages_are_acknowledged_aa(listener):
    messages = [build_oru(sample_report()), build_oru(minimal_report())]
    result = send_mllp(messages, listener.host, listener.port)
    assert result.ok and result.attempts == 1
    assert [(i.item, i.status) for i in result.items] == [(control_id(m), "AA") for m in messages]
    assert listener.received == messages  # whole, in order, unchanged


def test_an_invalid_message_gets_ae_and_is_not_resent(listener):
    good = build_oru(sample_report())
    broken = good.replace("PID|1||", "PID|1|||")  # PID-3, required, moved to PID-4
    result = send_mllp([broken, good], listener.host, listener.port, **FAST)
    assert not result.ok
    failure, success = result.items
    assert failure.status == "AE" and "PID.PID_3" in failure.detail
    assert success.status == "AA"
    assert len(listener.received) == 2
    assert "AE" in result.summary() and "PID.PID_3" in result.summary()


def test_a_refusal_is_reported(listener):
    listener.refuse = "no results accepted today"
    result = send_mllp([build_oru(minimal_report())], listener.host, listener.port)
    (item,) = result.items
    assert not item.ok and item.status == "AR" and item.detail == "no results accepted today"


def test_listener_down_is_retried_then_a_clear_error():
    port = free_port()
    message = build_oru(minimal_report())
    with pytest.raises(DeliveryError) as caught:
        send_mllp([message], "127.0.0.1", port, timeout=2, retries=2, backoff=0.01)
    assert str(caught.value) == (f"MLLP to 127.0.0.1:{port} (message {control_id(message)}): "
                                 "cannot connect: connection refused (after 3 attempts)")
    assert caught.value.attempts == 3


def test_no_ack_in_time_is_retried_then_a_clear_error():
    message = build_oru(minimal_report())
    with tcp_stub("silent") as (host, port, received):
        with pytest.raises(DeliveryError, match=r"no ACK within 0.2 s \(after 2 attempts\)$"):
            send_mllp([message], host, port, timeout=0.2, **FAST)
    assert len(received) == 2 and received[0] == frame(message)


def test_hang_up_without_ack_is_retried_then_a_clear_error():
    with tcp_stub("close") as (host, port, received):
        with pytest.raises(DeliveryError, match="closed without an MLLP-framed ACK"):
            send_mllp([build_oru(minimal_report())], host, port, timeout=2, **FAST)
    assert len(received) == 2


def test_ack_checks():
    message = build_oru(minimal_report())
    sent = control_id(message)
    unframed = ack(message, "AA")[1:-2]
    assert check_ack(unframed, sent).ok
    assert check_ack(ack(message, "CA")[1:-2], sent).ok
    wrong = check_ack(unframed, "OTHER")
    assert not wrong.ok and "ACK is for control id" in wrong.detail
    error = check_ack(ack(message, "AE", "bad OBX")[1:-2], sent)
    assert not error.ok and error.status == "AE" and error.detail == "bad OBX"
    assert not check_ack("MSH|^~\\&|X\r", sent).ok


def test_framing():
    assert frame("MSH|a\nPID|b") == b"\x0bMSH|a\rPID|b\r\x1c\r"
    assert frame("MSH|é\r") == b"\x0bMSH|\xc3\xa9\r\x1c\r"
    with pytest.raises(DeliveryError, match="MSH-10"):
        control_id("PID|1")
