"""CaseReport -> HL7 v2.5.1 ORU^R01, for receivers that take results over MLLP.

`build_oru` reads only a `CaseReport` (like the FHIR and SR writers). hl7apy is imported
when a message is built, so importing this package costs nothing.
"""

from __future__ import annotations

from caseconv.hl7v2.oru import DEFAULT_TIMESTAMP, build_oru, control_id

__all__ = ["DEFAULT_TIMESTAMP", "build_oru", "control_id"]
