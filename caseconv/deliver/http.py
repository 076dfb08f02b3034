"""One POST with retries, shared by the FHIR and STOW-RS senders.

Retried: connection errors (refused, reset), time-outs, 429 and 5xx (the server's
Retry-After honoured when it gives seconds). Not retried: other 4xx, which a second try
would only repeat. Retrying a POST is safe here because what we send is idempotent on
the server: FHIR entries are conditional creates (ifNoneExist) and a DICOM store of the
same SOP Instance UID replaces or ignores the copy.

The bearer token comes from an environment variable, never an argument (it would end
up in shell history and process listings), and is not sent over plain http except to
the loopback interface.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from caseconv.deliver.result import DeliveryError, Retry

if TYPE_CHECKING:
    import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_headers(url: str, token_env: str | None) -> dict[str, str]:
    """``Authorization: Bearer`` from ``$token_env`` when it is set and not empty."""
    if not token_env:
        return {}
    token = os.environ.get(token_env, "").strip()
    if not token:
        return {}
    parts = urlsplit(url)
    if parts.scheme != "https" and not _loopback(parts.hostname or ""):
        raise DeliveryError(f"refusing to send the token of ${token_env} over {parts.scheme}:// to "
                            f"{parts.hostname}: use https")
    return {"Authorization": f"Bearer {token}"}


class HTTPFailure(DeliveryError):
    """An HTTP error status (``retry_after`` from the header, when numeric)."""

    def __init__(self, message: str, *, status: int, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def describe(response: requests.Response) -> str:
    """Status and the first thing the server said (OperationOutcome diagnostics, text)."""
    head = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    said = ""
    try:
        body = response.json()
    except ValueError:
        said = response.text
    else:
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            issues = body.get("issue") or [{}]
            said = "; ".join(i.get("diagnostics") or (i.get("details") or {}).get("text") or
                             i.get("code", "") for i in issues)
        elif isinstance(body, dict):
            said = str(body.get("Message") or body.get("message") or body.get("error") or "")
    said = " ".join(said.split())[:200]
    return f"{head}: {said}" if said else head


def post(url: str, data: bytes, headers: dict[str, str], *, token_env: str | None,
         verify: bool | str, timeout: float, retry: Retry) -> tuple[requests.Response, int]:
    """POST with retries; returns the 2xx response and the number of attempts."""
    import requests

    headers = {**headers, **auth_headers(url, token_env)}

    def attempt(_: int) -> requests.Response:
        try:
            response = requests.post(url, data=data, headers=headers, verify=verify, timeout=timeout,
                                     allow_redirects=False)
        except requests.exceptions.SSLError as error:
            raise DeliveryError(f"TLS verification failed: {_reason(error)}") from error
        except requests.exceptions.Timeout as error:
            raise DeliveryError(f"no answer within {timeout:g} s",
                                retryable=True) from error
        except requests.exceptions.ConnectionError as error:
            raise DeliveryError(f"cannot connect: {_reason(error)}", retryable=True) from error
        if response.status_code >= 300:
            status = response.status_code
            message = describe(response)
            if status == 401:
                message += (f" (no token: ${token_env} is not set)" if token_env and not
                            os.environ.get(token_env) else f" (check the token in ${token_env})"
                            if token_env else "")
            raise HTTPFailure(message, status=status, retryable=status in RETRY_STATUSES,
                              retry_after=_retry_after(response))
        return response

    return retry.run(f"POST {url}", attempt)


def _reason(error: Exception) -> str:
    """The innermost reason of a requests/urllib3 error, on one line."""
    text = str(error)
    for marker in ("] ", "Errno"):
        if marker in text:
            text = text[text.rindex(marker):].lstrip("] ")
    text = text.split("'))")[0].rstrip("')\"")
    return " ".join(text.split())[:200]
