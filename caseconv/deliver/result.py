"""What a delivery returns, what it raises, and the retry policy all senders share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class DeliveryError(Exception):
    """A delivery that did not happen (or did not finish): the message is one line, for a user.

    Raised for failures of the connection or the protocol (refused, timed out, association
    rejected, HTTP 4xx/5xx for the whole request); an item the server refused while others
    were stored is reported in the `DeliveryResult` instead. Nothing local is ever deleted.
    """

    def __init__(self, message: str, *, attempts: int = 1, retryable: bool = False) -> None:
        super().__init__(" ".join(message.split()))
        self.attempts = attempts
        self.retryable = retryable


@dataclass(frozen=True)
class ItemResult:
    """The server's answer for one entry, file or message."""

    #: what was sent: a fullUrl, a file path, an MSH-10 control id
    item: str
    ok: bool
    #: the server's status: "201 Created", "0x0000", "AA" ...
    status: str
    #: what the server stored it as (Location, SOP Instance UID) or why it refused
    detail: str = ""


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one delivery: per-item answers, and how many attempts it took."""

    target: str
    items: tuple[ItemResult, ...] = ()
    attempts: int = 1
    #: the raw response (a FHIR transaction-response, a STOW-RS JSON), when there is one
    response: dict | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failures(self) -> tuple[ItemResult, ...]:
        return tuple(item for item in self.items if not item.ok)

    def summary(self) -> str:
        """One line for a CLI: ``3 of 3 stored at http://...``."""
        good = sum(item.ok for item in self.items)
        line = f"{good} of {len(self.items)} delivered to {self.target}"
        if self.attempts > 1:
            line += f" after {self.attempts} attempts"
        for failure in self.failures:
            line += f"; {failure.item}: {failure.status} {failure.detail}".rstrip()
        return line


@dataclass(frozen=True)
class Retry:
    """Exponential backoff: ``retries`` more attempts after the first, waiting
    ``backoff * 2**n`` seconds (capped at ``max_wait``), or the server's Retry-After."""

    retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, not {self.retries!r}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be >= 0, not {self.backoff!r}")

    def wait(self, attempt: int, hint: float | None = None) -> None:
        """Sleep before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        delay = self.backoff * 2 ** (attempt - 1) if hint is None else hint
        self.sleep(min(max(delay, 0.0), self.max_wait))

    def run(self, what: str, call: Callable[[int], T]) -> tuple[T, int]:
        """Call ``call(attempt)`` until it returns or raises a non-retryable `DeliveryError`.

        A retryable error is retried; after the last attempt it is raised again, its
        message saying how many attempts were made. Returns (value, attempts).
        """
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return call(attempt), attempt
            except DeliveryError as error:
                if not error.retryable or attempt == attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise DeliveryError(f"{what}: {error}{suffix}", attempts=attempt,
                                        retryable=error.retryable) from error
                self.wait(attempt, getattr(error, "retry_after", None))
        raise AssertionError("unreachable")  # pragma: no cover
