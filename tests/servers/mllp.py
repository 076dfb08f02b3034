"""An hl7apy MLLP listener on 127.0.0.1 that validates each message strictly.

It answers AA when hl7apy parses the message in strict mode and `validate()` passes,
AE (with the reason in MSA-3 and ERR) otherwise, and keeps what it received.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hl7apy.mllp import AbstractErrorHandler, AbstractHandler, MLLPServer

from servers import serving

SB, EB, CR = "\x0b", "\x1c", "\r"


def ack(message: str, code: str, text: str = "") -> str:
    """An ACK^R01 for ``message`` (MLLP-framed: hl7apy's server sends what the handler returns)."""
    fields = message.split("\r", 1)[0].split("|")
    control = fields[9] if len(fields) > 9 else ""
    version = fields[11] if len(fields) > 11 else "2.5.1"
    trigger = (fields[8].split("^") + ["", ""])[1] if len(fields) > 8 else ""
    text = text.replace("|", " ").replace("^", " ").replace("~", " ").replace("\\", " ").replace("&", " ")[:80]
    segments = [
        f"MSH|^~\\&|TESTLISTENER||caseconv||19700101000000||ACK^{trigger}^ACK|ACK{control}"[:200]
        + f"|P|{version}",
        f"MSA|{code}|{control}" + (f"|{text}" if text else ""),
    ]
    if code != "AA":
        segments.append(f"ERR||||E||||{text}")
    return SB + CR.join(segments) + CR + EB + CR


@dataclass
class Listener:
    host: str
    port: int
    received: list[str] = field(default_factory=list)
    #: set to make every answer an AR (a receiver that refuses on purpose)
    refuse: str = ""


def _handlers(listener: Listener) -> dict:
    class Validate(AbstractHandler):
        def reply(self) -> str:
            from hl7apy.consts import VALIDATION_LEVEL
            from hl7apy.parser import parse_message

            message = self.incoming_message
            listener.received.append(message)
            if listener.refuse:
                return ack(message, "AR", listener.refuse)
            try:
                parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT,
                                       find_groups=True)
                parsed.validate()
            except Exception as error:  # every hl7apy error is an AE with its text
                return ack(message, "AE", f"{type(error).__name__}: {error}")
            return ack(message, "AA")

    class Error(AbstractErrorHandler):
        def reply(self) -> str:
            return ack(self.incoming_message, "AE", f"{type(self.exc).__name__}: {self.exc}")

    return {"ORU^R01^ORU_R01": (Validate,), "ORU^R01": (Validate,), "ERR": (Error,)}


@contextmanager
def mllp_listener() -> Iterator[Listener]:
    listener = Listener("127.0.0.1", 0)
    server = MLLPServer("127.0.0.1", 0, _handlers(listener), timeout=5)
    listener.port = server.server_address[1]
    with serving(server):
        yield listener
