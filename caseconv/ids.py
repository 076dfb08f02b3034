"""Identifiers derived from a case's content, shared by the FHIR and DICOM writers.

A case report normally comes without images, so there is no study to take a
Study Instance UID or Patient ID from. The decision (issue 2): every identifier is
derived from the SHA-256 of the source text, so that the same text always gives
the same identifiers, two different texts never share one, and the FHIR
ImagingStudy and the DICOM SR name the same study.

- UIDs are ``2.25.<uuid5 as integer>`` (PS3.5 B.2, the form pydicom's
  ``generate_uid(prefix=None)`` produces) over the digest and a role name.
- FHIR resource ids are uuid5 over the digest and the resource's role.
- The Patient ID is ``caseconv-`` and the first 16 hex digits of the digest:
  it names the case, not a person, and fits DICOM's LO (64 characters).
"""

from __future__ import annotations

import uuid

from caseconv.model import CaseReport

#: The namespace of every caseconv uuid5 (itself uuid5 of the project's name).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "caseconv")


def content_uuid(report: CaseReport, *role: str) -> uuid.UUID:
    """A uuid5 over the case's digest and a role ("Patient", "finding/3", ...)."""
    return uuid.uuid5(NAMESPACE, "/".join((report.digest, *role)))


def dicom_uid(report: CaseReport, *role: str) -> str:
    """A DICOM UID in the 2.25 arc, derived from the case's content and a role."""
    return f"2.25.{content_uuid(report, 'uid', *role).int}"


def study_instance_uid(report: CaseReport) -> str:
    """The Study Instance UID both the ImagingStudy and the SR carry: the images' when the
    user supplied them, else one derived from the case."""
    return report.study_uid or dicom_uid(report, "study")


def patient_id(report: CaseReport) -> str:
    """A Patient ID that names the case (there is no real patient identifier in a case report)."""
    return f"caseconv-{report.digest[:16]}"
