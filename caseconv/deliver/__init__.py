"""Deliver what caseconv wrote: FHIR bundles, DICOM SR files and HL7 v2 messages.

Every sender returns a `DeliveryResult` with the receiver's answer per item, and raises
`DeliveryError` (one line, for a user) when the delivery as a whole failed. Transient
failures (refused connections, time-outs, 429/5xx, aborted associations) are retried with
exponential backoff; what the receiver refused on purpose is not. Secrets come from the
environment, never from arguments. Nothing local is deleted, whatever happens.

The network libraries (requests, pynetdicom) are imported when a sender runs, so
importing this package is cheap.
"""

from __future__ import annotations

from caseconv.deliver.dicom import send_dicomweb, send_pacs
from caseconv.deliver.fhir import as_transaction, send_fhir
from caseconv.deliver.mllp import send_mllp
from caseconv.deliver.result import DeliveryError, DeliveryResult, ItemResult, Retry

__all__ = ["DeliveryError", "DeliveryResult", "ItemResult", "Retry", "as_transaction", "send_dicomweb",
           "send_fhir", "send_mllp", "send_pacs"]
