"""Send SR files to a PACS: DIMSE C-STORE (pynetdicom) or DICOMweb STOW-RS (HTTP).

Both read the files and leave them where they are: a failed send never costs the user
a file. The C-STORE association proposes exactly the SOP classes of the files given
(with their own transfer syntax and the two uncompressed ones), so a PACS that does not
take, say, Comprehensive 3D SR says so at negotiation, per file, not with a vague abort.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caseconv.deliver.http import post
from caseconv.deliver.result import DeliveryError, DeliveryResult, ItemResult, Retry

#: C-STORE statuses that mean "stored" (PS3.4 B.2.3): success and the three warnings.
STORED = {0x0000, 0xB000, 0xB006, 0xB007}


def _read(paths: Sequence[Path | str]) -> list[tuple[Path, Any]]:
    """Each file as a pydicom dataset; a missing or non-DICOM file fails before any network."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    read = []
    for raw in paths:
        path = Path(raw)
        try:
            dataset = dcmread(path)
        except (OSError, InvalidDicomError) as error:
            raise DeliveryError(f"cannot read {path}: {error}") from error
        for keyword in ("SOPClassUID", "SOPInstanceUID"):
            if keyword not in dataset:
                raise DeliveryError(f"{path} has no {keyword}")
        read.append((path, dataset))
    if not read:
        raise DeliveryError("no files to send")
    return read


def _contexts(datasets: list[tuple[Path, Any]]) -> dict[str, list[str]]:
    """SOP class -> transfer syntaxes to propose: each file's own, then the uncompressed ones."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    contexts: dict[str, list[str]] = {}
    for _, dataset in datasets:
        syntaxes = contexts.setdefault(str(dataset.SOPClassUID), [])
        own = str(getattr(dataset.file_meta, "TransferSyntaxUID", ExplicitVRLittleEndian))
        for syntax in (own, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if syntax not in syntaxes:
                syntaxes.append(str(syntax))
    return contexts


def _check_aet(name: str, value: str) -> str:
    if not value or len(value) > 16 or "\\" in value or not value.isprintable() or value != value.strip():
        raise ValueError(f"{name} must be 1 to 16 printable characters without backslash or padding, "
                         f"not {value!r}")
    return value


def _associate(host: str, port: int, calling_aet: str, called_aet: str,
               contexts: dict[str, list[str]], timeout: float) -> Any:
    """An established association, or a `DeliveryError` saying why not (retryable unless
    the peer rejected us permanently: a wrong AE title does not fix itself)."""
    from pynetdicom import AE, evt

    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    for sop_class, syntaxes in contexts.items():
        ae.add_requested_context(sop_class, syntaxes)
    opened: list[bool] = []
    assoc = ae.associate(host, port, ae_title=called_aet,
                         evt_handlers=[(evt.EVT_CONN_OPEN, lambda event: opened.append(True))])
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        answer = assoc.acceptor.primitive
        transient = getattr(answer, "result", None) == 0x02
        raise DeliveryError(f"association rejected ({answer.result_str}, {answer.source_str}): "
                            f"{answer.reason_str} (calling AE {calling_aet!r})", retryable=transient)
    if not opened:
        raise DeliveryError("cannot connect", retryable=True)
    if not assoc.accepted_contexts and assoc.rejected_contexts:
        raise DeliveryError("the PACS accepts none of the proposed SOP classes "
                            f"({', '.join(_uid_name(uid) for uid in contexts)})")
    raise DeliveryError(f"association aborted or not answered within {timeout:g} s",
                        retryable=True)


def _uid_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name


def send_pacs(paths: Sequence[Path | str], host: str, port: int, *, calling_aet: str, called_aet: str,
              timeout: float = 30, retries: int = 3, backoff: float = 0.5) -> DeliveryResult:
    """C-STORE the files to ``called_aet`` at ``host:port``; one association for all.

    A refused connection, an abort or a transient rejection is retried with exponential
    backoff; a permanent rejection (unknown AE title) raises at once. Per-file statuses
    are in the result: a file the PACS refused is a failure there, not an exception.
    """
    datasets = _read(paths)
    _check_aet("calling_aet", calling_aet)
    _check_aet("called_aet", called_aet)
    contexts = _contexts(datasets)

    def attempt(_: int) -> tuple[ItemResult, ...]:
        assoc = _associate(host, port, calling_aet, called_aet, contexts, timeout)
        items = []
        try:
            accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
            for path, dataset in datasets:
                uid = str(dataset.SOPInstanceUID)
                if str(dataset.SOPClassUID) not in accepted:
                    items.append(ItemResult(str(path), False, "not negotiated",
                                            f"{_uid_name(dataset.SOPClassUID)} refused by the PACS"))
                    continue
                status = assoc.send_c_store(dataset)
                if "Status" not in status:
                    raise DeliveryError(f"no C-STORE answer for {path} (association aborted or timed out)",
                                        retryable=True)
                code = int(status.Status)
                comment = str(status.get("ErrorComment", "") or "")
                items.append(ItemResult(str(path), code in STORED, f"0x{code:04X}", comment or uid))
        finally:
            if assoc.is_established:
                assoc.release()
        return tuple(items)

    items, attempts = Retry(retries, backoff).run(f"C-STORE to {called_aet}@{host}:{port}", attempt)
    return DeliveryResult(f"{called_aet}@{host}:{port}", items, attempts)


def multipart(parts: Sequence[bytes], boundary: str, content_type: str = "application/dicom") -> bytes:
    """A multipart/related body (RFC 2387), as STOW-RS wants it."""
    body = bytearray()
    for part in parts:
        body += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode("ascii")
        body += part + b"\r\n"
    body += f"--{boundary}--\r\n".encode("ascii")
    return bytes(body)


def _stow_items(datasets: list[tuple[Path, Any]], answer: dict[str, Any]) -> tuple[ItemResult, ...]:
    """Per file: stored (ReferencedSOPSequence 0008,1199) or failed (FailedSOPSequence 0008,1198)."""
    def sequence(tag: str) -> list[dict[str, Any]]:
        return (answer.get(tag) or {}).get("Value") or []

    def value(item: dict[str, Any], tag: str) -> str:
        values = (item.get(tag) or {}).get("Value") or [""]
        return str(values[0])

    stored = {value(i, "00081155"): i for i in sequence("00081199")}
    failed = {value(i, "00081155"): i for i in sequence("00081198")}
    items = []
    for path, dataset in datasets:
        uid = str(dataset.SOPInstanceUID)
        if uid in failed:
            reason = value(failed[uid], "00081197")
            items.append(ItemResult(str(path), False, f"failed {reason}".strip(), uid))
        elif uid in stored:
            warning = value(stored[uid], "00081196")
            items.append(ItemResult(str(path), True, f"warning {warning}" if warning else "stored", uid))
        else:
            items.append(ItemResult(str(path), False, "not in answer", uid))
    return tuple(items)


def send_dicomweb(paths: Sequence[Path | str], url: str, *, token_env: str | None = "CASECONV_DICOMWEB_TOKEN",
                  verify: bool | str = True, retries: int = 3, timeout: float = 30,
                  backoff: float = 0.5) -> DeliveryResult:
    """STOW-RS the files to ``{url}/studies`` (``url`` is the DICOMweb root) in one request.

    Token, TLS and retries as for `send_fhir`. The answer's Referenced/Failed SOP
    sequences give one result per file.
    """
    import json

    datasets = _read(paths)
    boundary = f"caseconv-{uuid.uuid4().hex}"
    body = multipart([Path(path).read_bytes() for path, _ in datasets], boundary)
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
               "Accept": "application/dicom+json"}
    target = url.rstrip("/") + "/studies"
    response, attempts = post(target, body, headers, token_env=token_env, verify=verify, timeout=timeout,
                              retry=Retry(retries, backoff))
    try:
        answer = json.loads(response.content or b"{}")
    except ValueError as error:
        raise DeliveryError(f"POST {target}: the answer is not DICOM JSON", attempts=attempts) from error
    if isinstance(answer, list):  # some servers wrap the dataset in a list
        answer = answer[0] if answer else {}
    return DeliveryResult(url, _stow_items(datasets, answer), attempts, answer)


__all__ = ["multipart", "send_dicomweb", "send_pacs"]
