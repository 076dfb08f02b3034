"""POST a FHIR Bundle to a server as one transaction, and report the answer per entry."""

from __future__ import annotations

import copy
import json
from typing import Any

from caseconv.deliver.http import post
from caseconv.deliver.result import DeliveryError, DeliveryResult, ItemResult, Retry

Json = dict[str, Any]

#: The identifier a conditional create matches on, by preference: a DICOM UID names the
#: study on every server, whatever identifier the writer put first.
_PREFERRED_SYSTEMS = ("urn:dicom:uid",)


def _if_none_exist(resource: Json) -> str | None:
    found = resource.get("identifier") or []
    if isinstance(found, dict):  # Bundle.identifier is a single Identifier
        found = [found]
    identifiers = [i for i in found if i.get("system") and i.get("value")]
    if not identifiers:
        return None
    chosen = next((i for i in identifiers if i["system"] in _PREFERRED_SYSTEMS), identifiers[0])
    return f"identifier={chosen['system']}|{chosen['value']}"


def as_transaction(bundle: Json) -> Json:
    """A transaction of the bundle's entries: a collection gets a POST per entry, with a
    conditional create (ifNoneExist) on its identifier, so that sending twice stores once.

    A transaction is returned as it is (`build_bundle(..., bundle_type="transaction")`
    already has its requests); a batch or any other type is refused.
    """
    kind = bundle.get("type")
    if bundle.get("resourceType") != "Bundle":
        raise DeliveryError(f"not a FHIR Bundle: resourceType {bundle.get('resourceType')!r}")
    if kind == "transaction":
        return bundle
    if kind != "collection":
        raise DeliveryError(f"can send a collection or transaction Bundle, not {kind!r}")
    result = copy.deepcopy(bundle)
    result["type"] = "transaction"
    result.pop("id", None)
    for entry in result.get("entry", []):
        resource = entry["resource"]
        request: Json = {"method": "POST", "url": resource["resourceType"]}
        condition = _if_none_exist(resource)
        if condition:
            request["ifNoneExist"] = condition
        entry["request"] = request
    return result


def _entry_results(sent: Json, answer: Json) -> tuple[ItemResult, ...]:
    sent_entries = sent.get("entry", [])
    answered = answer.get("entry", [])
    if answer.get("resourceType") != "Bundle" or len(answered) != len(sent_entries):
        raise DeliveryError(f"the server's answer is not a transaction-response for {len(sent_entries)} "
                            f"entries (got {answer.get('resourceType')!r} with {len(answered)})")
    items = []
    for mine, theirs in zip(sent_entries, answered, strict=True):
        response = theirs.get("response") or {}
        status = str(response.get("status", ""))
        code = status.split()[0] if status else ""
        where = response.get("location") or ""
        if not where and isinstance(theirs.get("resource"), dict):
            resource = theirs["resource"]
            where = f"{resource.get('resourceType')}/{resource.get('id')}"
        outcome = response.get("outcome") or {}
        why = "; ".join(i.get("diagnostics", "") for i in outcome.get("issue", []) if i.get("diagnostics"))
        name = mine.get("fullUrl") or f"{mine['resource']['resourceType']}"
        items.append(ItemResult(name, code.startswith("2"), status, why or where))
    return tuple(items)


def send_fhir(bundle: Json, url: str, *, token_env: str | None = "CASECONV_FHIR_TOKEN",
              verify: bool | str = True, retries: int = 3, timeout: float = 30,
              backoff: float = 0.5) -> DeliveryResult:
    """POST ``bundle`` (collection or transaction) to the server's base ``url`` as a transaction.

    The bearer token is read from ``$token_env`` (never an argument); TLS is verified
    unless ``verify`` is False (or a CA bundle path). 429, 5xx, time-outs and refused
    connections are retried ``retries`` times with exponential backoff from ``backoff``
    seconds; any other HTTP error, or a server that never answers, raises `DeliveryError`.
    """
    transaction = as_transaction(bundle)
    body = json.dumps(transaction, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/fhir+json; charset=utf-8", "Accept": "application/fhir+json"}
    response, attempts = post(url.rstrip("/"), body, headers,
                              token_env=token_env, verify=verify, timeout=timeout,
                              retry=Retry(retries, backoff))
    try:
        answer = response.json()
    except ValueError as error:
        raise DeliveryError(f"POST {url}: the answer is not JSON ({response.headers.get('Content-Type')})",
                            attempts=attempts) from error
    return DeliveryResult(url, _entry_results(transaction, answer), attempts, answer)
