"""Send HL7 v2 messages over MLLP and check each acknowledgement.

One connection per message: many listeners (hl7apy's among them) close the connection
after the ACK, and a fresh connection makes a resend after a failure unambiguous. The
ACK must name the message's control id (MSA-2); AA/CA is success, AE/AR/CE/CR a failure
reported in the result with the receiver's text (MSA-3, ERR-8).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from caseconv.deliver.result import DeliveryError, DeliveryResult, ItemResult, Retry

START, END = b"\x0b", b"\x1c\x0d"
#: An ACK larger than this is not an ACK.
MAX_ACK = 1 << 20


def frame(message: str) -> bytes:
    """An ER7 message in an MLLP block (segments ended by CR, UTF-8)."""
    text = message.replace("\r\n", "\r").replace("\n", "\r")
    if not text.endswith("\r"):
        text += "\r"
    return START + text.encode("utf-8") + END


def _fields(message: str) -> dict[str, list[str]]:
    """Segment name -> its fields (``fields[1]`` is field 1; MSH is shifted to match)."""
    segments: dict[str, list[str]] = {}
    for line in message.replace("\n", "\r").split("\r"):
        if len(line) < 3:
            continue
        name = line[:3]
        separator = line[3:4] if name == "MSH" else None
        fields = line.split(separator or (segments.get("MSH", ["", "|"])[1][:1] or "|"))
        if name == "MSH":
            fields = ["MSH", line[3], *fields[1:]]
        segments.setdefault(name, fields)
    return segments


def control_id(message: str) -> str:
    """MSH-10 of an ER7 message."""
    msh = _fields(message).get("MSH")
    if not msh or len(msh) <= 10 or not msh[10]:
        raise DeliveryError("message has no MSH-10 control id")
    return msh[10].split("^")[0]


def _receive(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_ACK:
            raise DeliveryError("answer too long for an ACK")
    start = data.find(START)
    end = data.rfind(END)
    if start < 0 or end < start:
        raise DeliveryError("connection closed without an MLLP-framed ACK", retryable=True)
    return data[start + 1:end].decode("utf-8", "replace")


def check_ack(ack: str, sent_id: str) -> ItemResult:
    """The ACK as a result: its code (MSA-1) and the receiver's reason when it refused."""
    segments = _fields(ack)
    msa = segments.get("MSA")
    if msa is None or len(msa) < 3:
        return ItemResult(sent_id, False, "no MSA", ack[:200])
    code, acked = msa[1], msa[2]
    if acked != sent_id:
        return ItemResult(sent_id, False, code, f"ACK is for control id {acked!r}")
    reason = msa[3] if len(msa) > 3 else ""
    err = segments.get("ERR")
    if not reason and err:
        reason = (err[8] if len(err) > 8 and err[8] else err[-1]).replace("^", " ")
    return ItemResult(sent_id, code in ("AA", "CA"), code, reason.strip())


def send_mllp(messages: Sequence[str], host: str, port: int, *, timeout: float = 10, retries: int = 3,
              backoff: float = 0.5) -> DeliveryResult:
    """Send each message and check its ACK (AA/CA ok; AE/AR/CE/CR are failures in the result).

    A refused connection, a time-out waiting for the ACK or a connection closed before it
    is retried (HL7 receivers drop duplicates by MSH-10); after the last try it raises
    `DeliveryError`. A negative ACK is the receiver's answer and is not retried.
    """
    where = f"{host}:{port}"
    retry = Retry(retries, backoff)
    items: list[ItemResult] = []
    most = 1
    for message in messages:
        sent_id = control_id(message)
        block = frame(message)

        def attempt(_: int, block: bytes = block, sent_id: str = sent_id) -> ItemResult:
            try:
                with socket.create_connection((host, port), timeout=timeout) as sock:
                    sock.settimeout(timeout)
                    sock.sendall(block)
                    return check_ack(_receive(sock), sent_id)
            except ConnectionRefusedError as error:
                raise DeliveryError("cannot connect: connection refused", retryable=True) from error
            except TimeoutError as error:
                raise DeliveryError(f"no ACK within {timeout:g} s", retryable=True) from error
            except OSError as error:
                raise DeliveryError(f"connection failed: {error.strerror or error}", retryable=True) from error

        item, attempts = retry.run(f"MLLP to {where} (message {sent_id})", attempt)
        most = max(most, attempts)
        items.append(item)
    return DeliveryResult(f"mllp://{where}", tuple(items), most)
