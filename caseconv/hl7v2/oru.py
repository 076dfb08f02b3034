"""CaseReport -> ORU^R01 (HL7 v2.5.1), built and validated by hl7apy in strict mode.

Layout (one PATIENT_RESULT, one ORDER_OBSERVATION):

- MSH: sender ``caseconv``, the message time from ``timestamp`` (never the clock),
  control id derived from the case digest, ``UNICODE UTF-8``.
- PID: the derived Patient ID (`caseconv.ids.patient_id`), a pseudonym name (name type
  ``S``, "coded pseudo-name to ensure anonymity": PID-5 is required, a case has no name),
  the sex. No birth date: a case report gives an age, and a birth date made from it
  would be invented. The age goes into an OBX (LOINC 30525-0, UCUM unit).
- OBR: the first procedure (coded when the report's procedure is), the Study Instance
  UID of `caseconv.ids` as filler order number, result status F.
- OBX groups, numbered in OBX-4 (sub-id): each procedure (121058 Procedure reported);
  each finding (121071 Finding, CWE coded or text-only), its presence (CID 240), sites
  (363698007), laterality (272741003), measurements (NM, kind CID 7470, UCUM unit),
  levels and descriptors (121106 Comment, ST); the diagnosis (121073 Impression) and
  differentials (111023); finally the report text as TX lines (59776-5), wrapped at
  199 characters (see `MAX_VALUE`).

The same codes as the SR and FHIR writers (`caseconv.hl7v2.concepts`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from caseconv import ids
from caseconv.hl7v2 import concepts
from caseconv.model import CaseReport, Code, Diagnosis, Finding, Measurement

if TYPE_CHECKING:
    from hl7apy.core import Message

#: The message time when none is given: the SR writer's default content time, so that the
#: same report always gives the same bytes.
DEFAULT_TIMESTAMP = datetime(1970, 1, 1, 0, 0, 0)

#: Administrative sex, HL7 table 0001.
SEX = {"female": "F", "male": "M", "other": "O"}

#: PS3.5 maximum lengths hl7apy enforces in strict mode for the components we fill.
MAX_TEXT = 199  # CWE.2 / CWE.9 (ST)
MAX_ID = 20  # MSH-10 (ST)
#: OBX-5 is of type "varies"; hl7apy's strict mode (sender and receiver alike) holds it to
#: ST's 199 characters whatever OBX-2 says, so longer narrative lines are wrapped.
MAX_VALUE = 199

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """Text as ER7 (escape the delimiters, fold line breaks into spaces)."""
    text = re.sub(r"\s+", " ", text).strip()
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _cut(text: str, limit: int) -> str:
    """Text cut to ``limit`` characters *after* escaping, never inside an escape sequence."""
    out = escape(text)
    if len(out) <= limit:
        return out
    out = out[: limit - 3]
    if out.count("\\") % 2:
        out = out[: out.rindex("\\")]
    return out + "..."


def wrap(text: str, limit: int = MAX_VALUE) -> list[str]:
    """Text as escaped lines of at most ``limit`` characters, split between words (a word
    longer than a line is split between characters, never inside an escape sequence)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        pieces = [escape(word)]
        if len(pieces[0]) > limit:
            pieces, piece = [], ""
            for char in word:
                if len(piece) + len(escape(char)) > limit:
                    pieces.append(piece)
                    piece = ""
                piece += escape(char)
            pieces.append(piece)
        for piece in pieces:
            if current and len(current) + 1 + len(piece) <= limit:
                current += " " + piece
            else:
                if current:
                    lines.append(current)
                current = piece
    if current:
        lines.append(current)
    return lines


def cwe(code: Code | None, text: str | None = None) -> str:
    """A CWE: ``value^display^scheme`` and the words as written (CWE.9 original text);
    an uncoded concept keeps only its text (CWE.2 and CWE.9)."""
    original = _cut(text, MAX_TEXT) if text else ""
    if code is None:
        return f"^{original}" + ("^" * 7 + original if original else "")
    parts = [escape(code.value), _cut(code.display, MAX_TEXT), code.scheme]
    if original and original != parts[1]:
        parts += ["", "", "", "", "", original]
    return "^".join(parts)


def ce(code: Code | None, text: str | None = None) -> str:
    """A CE (OBR-4, OBX-3, OBX-6 in v2.5.1 have no original-text component): the code,
    or ``^text`` for an uncoded concept."""
    if code is None:
        return f"^{_cut(text or '', MAX_TEXT)}"
    return "^".join((escape(code.value), _cut(code.display, MAX_TEXT), code.scheme))


def number(value: float) -> str:
    """An NM: no exponent (NM has none), no trailing ``.0``."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text:
        text = format(value, ".15f").rstrip("0").rstrip(".")
    return text


def unit(unit_: str) -> str:
    """OBX-6 as a CWE: UCUM coded when pydicom's UCUM dictionary knows the unit."""
    from caseconv.fhir import terms

    code = terms.ucum(unit_)
    if code is None:
        return f"^{escape(unit_)}"
    return f"{escape(code)}^{_cut(terms.ucum_display(code), MAX_TEXT)}^UCUM"


def control_id(report: CaseReport) -> str:
    """MSH-10 derived from the case digest (20 hex digits: the ST limit of MSH-10)."""
    return ids.content_uuid(report, "hl7v2", "MSH-10").hex[:MAX_ID]


def _ts(value: datetime) -> str:
    """A TS/DTM; an aware datetime keeps its offset (``+hhmm``)."""
    text = value.strftime("%Y%m%d%H%M%S")
    if value.tzinfo is not None:
        offset = value.utcoffset()
        assert offset is not None
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return text


class _Observations:
    """Collects OBX segments (value type, identifier, sub-id, value, units) in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, value_type: str, identifier: str, sub_id: str, value: str, units: str = "") -> None:
        self.rows.append((value_type, identifier, sub_id, value, units))

    def coded(self, name: str, sub_id: str, value: str) -> None:
        self.add("CWE", ce(concepts.concept(name)), sub_id, value)


def _finding(obs: _Observations, group: str, finding: Finding) -> None:
    obs.coded("finding", group, cwe(finding.code, finding.text))
    obs.coded("presence", group, cwe(concepts.concept(finding.presence)))
    for site in finding.sites:
        obs.coded("finding_site", group, cwe(site.code, site.text))
    if finding.laterality:
        obs.coded("laterality", group, cwe(concepts.concept(finding.laterality)))
    for measurement in finding.measurements:
        _measurement(obs, group, finding, measurement)
    if finding.levels:
        obs.add("ST", ce(concepts.concept("comment")), group,
                _cut("levels: " + ", ".join(finding.levels), MAX_VALUE))
    for descriptor in finding.descriptors:
        obs.add("ST", ce(concepts.concept("comment")), group, _cut(descriptor, MAX_VALUE))


def _measurement(obs: _Observations, group: str, finding: Finding, measurement: Measurement) -> None:
    kind = concepts.measurement_kind(measurement.kind)
    identifier = ce(kind) if kind else ce(
        None, f"{measurement.kind or 'Measurement'} of {finding.text}")
    obs.add("NM", identifier, group, number(measurement.value), unit(measurement.unit))


def _diagnosis(obs: _Observations, group: str, diagnosis: Diagnosis) -> None:
    name = "differential" if diagnosis.status == "differential" else "impression"
    obs.coded(name, group, cwe(diagnosis.code, diagnosis.text))


def observations(report: CaseReport) -> list[tuple[str, str, str, str, str]]:
    """The OBX rows of a report, in message order (exposed for tests)."""
    obs = _Observations()
    age = report.patient.age
    if age is not None:
        obs.add("NM", ce(concepts.age()), "", number(age.value), unit(age.unit))
    group = 0
    for procedure in report.procedures:
        group += 1
        obs.coded("procedure_reported", str(group), cwe(procedure.code, procedure.text))
    for finding in report.findings:
        group += 1
        _finding(obs, str(group), finding)
    for diagnosis in report.diagnoses:
        group += 1
        _diagnosis(obs, str(group), diagnosis)
    narrative = ce(concepts.concept("narrative"))
    for line in report.text.splitlines():
        for part in wrap(line):
            obs.add("TX", narrative, "", part)
    return obs.rows


def build_message(report: CaseReport, *, control_id_: str | None = None,
                  timestamp: datetime | None = None, sending_facility: str = "",
                  receiving_application: str = "", receiving_facility: str = "") -> Message:
    """The hl7apy `Message` (strict), validated; `build_oru` serialises it."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message

    when = _ts(timestamp or DEFAULT_TIMESTAMP)
    message = Message("ORU_R01", version="2.5.1", validation_level=VALIDATION_LEVEL.STRICT)
    msh = message.msh
    msh.msh_3 = "caseconv"
    if sending_facility:
        msh.msh_4 = escape(sending_facility)
    if receiving_application:
        msh.msh_5 = escape(receiving_application)
    if receiving_facility:
        msh.msh_6 = escape(receiving_facility)
    msh.msh_7 = when
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = escape(control_id_ or control_id(report))
    msh.msh_11 = "P"
    msh.msh_12 = "2.5.1"
    msh.msh_18 = "UNICODE UTF-8"

    result = message.add_group("ORU_R01_PATIENT_RESULT")
    pid = result.add_group("ORU_R01_PATIENT").add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = f"{ids.patient_id(report)}^^^caseconv^PI"
    pid.pid_5 = f"{_cut(report.case, 194)}^^^^^^S"
    if report.patient.sex:
        pid.pid_8 = SEX[report.patient.sex]

    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    obr = order.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_3 = f"{ids.study_instance_uid(report)[:199]}^caseconv"
    first = report.procedures[0] if report.procedures else None
    obr.obr_4 = ce(first.code, first.text) if first else ce(concepts.concept("report"))
    obr.obr_7 = when
    obr.obr_22 = when
    obr.obr_24 = "RAD"
    obr.obr_25 = "F"

    for index, (value_type, identifier, sub_id, value, units) in enumerate(observations(report), 1):
        obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
        obx.obx_1 = str(index)
        obx.obx_2 = value_type
        obx.obx_3 = identifier
        if sub_id:
            obx.obx_4 = sub_id
        obx.obx_5 = value
        if units:
            obx.obx_6 = units
        obx.obx_11 = "F"
        obx.obx_14 = when
    message.validate()
    return message


def build_oru(report: CaseReport, *, control_id: str | None = None, timestamp: datetime | None = None,
              sending_facility: str = "", receiving_application: str = "",
              receiving_facility: str = "") -> str:
    """The report as an ER7 ORU^R01 v2.5.1 message (segments ended by CR).

    Deterministic: the control id comes from the case digest unless given, and every
    time is ``timestamp`` (default `DEFAULT_TIMESTAMP`), so equal reports give equal text.
    """
    message = build_message(report, control_id_=control_id, timestamp=timestamp,
                            sending_facility=sending_facility,
                            receiving_application=receiving_application,
                            receiving_facility=receiving_facility)
    return message.to_er7() + "\r"
