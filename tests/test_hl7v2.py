"""The ORU^R01 writer: hand-made CaseReport -> ER7, read back strictly by hl7apy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fhir_helpers.cases import TEXT, minimal_report, sample_report, span

from caseconv import ids
from caseconv.hl7v2 import DEFAULT_TIMESTAMP, build_oru, control_id
from caseconv.hl7v2 import concepts as hl7_concepts
from caseconv.hl7v2.oru import escape, number, wrap
from caseconv.model import CaseReport, Code, Diagnosis, Finding, Measurement, Site


def segments(message: str) -> list[list[str]]:
    assert message.endswith("\r") and "\n" not in message
    return [line.split("|") for line in message.rstrip("\r").split("\r")]


def obx(message: str) -> list[list[str]]:
    return [s for s in segments(message) if s[0] == "OBX"]


def by_identifier(message: str, code: str) -> list[list[str]]:
    return [s for s in obx(message) if s[3].split("^")[0] == code]


def parse_strict(message: str):
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    parsed.validate()
    return parsed


@pytest.mark.parametrize("report", [sample_report(), minimal_report()], ids=["sample", "minimal"])
def test_message_parses_back_strictly_and_validates(report):
    parsed = parse_strict(build_oru(report))
    assert parsed.name == "ORU_R01"
    assert parsed.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert parsed.msh.msh_12.to_er7() == "2.5.1"


def test_same_report_same_bytes_and_control_id_from_digest():
    report = sample_report()
    assert build_oru(report) == build_oru(sample_report())
    msh = segments(build_oru(report))[0]
    assert msh[9] == control_id(report) == ids.content_uuid(report, "hl7v2", "MSH-10").hex[:20]
    other = report.replace(text=TEXT + "Addendum.\n")
    assert control_id(other) != control_id(report)
    assert segments(build_oru(report, control_id="RUN-42"))[0][9] == "RUN-42"


def test_times_come_from_the_option_never_the_clock():
    default = DEFAULT_TIMESTAMP.strftime("%Y%m%d%H%M%S")
    message = build_oru(sample_report())
    assert segments(message)[0][6] == default
    assert {s[14] for s in obx(message)} == {default}
    when = datetime(2026, 11, 24, 9, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    stamped = build_oru(sample_report(), timestamp=when)
    assert segments(stamped)[0][6] == "20261124093005+0100"
    obr = next(s for s in segments(stamped) if s[0] == "OBR")
    assert obr[7] == "20261124093005+0100"


def test_patient_has_sex_and_derived_id_but_no_birth_date():
    report = sample_report()
    pid = next(s for s in segments(build_oru(report)) if s[0] == "PID")
    assert pid[3] == f"{ids.patient_id(report)}^^^caseconv^PI"
    assert pid[5].endswith("^^^^^^S")  # a pseudonym, name type S
    assert pid[8] == "F"
    assert len(pid) <= 7 or pid[7] == ""  # PID-7 date of birth: never invented
    (age,) = by_identifier(build_oru(report), "30525-0")
    assert age[2] == "NM" and age[5] == "70" and age[6] == "a^year^UCUM"


def test_obr_carries_the_coded_procedure_or_the_report_code():
    obr = next(s for s in segments(build_oru(sample_report())) if s[0] == "OBR")
    assert obr[4] == "24968-0^MR Lumbar spine^LN"
    assert obr[3] == f"{ids.study_instance_uid(sample_report())}^caseconv"
    assert obr[25] == "F"
    obr = next(s for s in segments(build_oru(minimal_report())) if s[0] == "OBR")
    assert obr[4] == "18748-4^Diagnostic Imaging Report^LN"


def test_finding_is_a_group_with_presence_sites_laterality_and_ucum_measurements():
    message = build_oru(sample_report())
    (mass,) = [s for s in by_identifier(message, "121071") if "psoas mass" in s[5]]
    group = [s for s in obx(message) if s[4] == mass[4]]
    values = {s[3].split("^")[0]: s for s in group}
    assert values["121052"][5] == "52101004^Present^SCT"
    sites = [s[5] for s in group if s[3].startswith("363698007^")]
    assert sites == ["71616004^Muscle^SCT^^^^^^psoas", "^neural foramen^^^^^^^neural foramen"]
    assert values["272741003"][5] == "7771000^Left^SCT"
    assert values["103339001"][2:7] == ["NM", "103339001^Long axis^SCT", mass[4], "12.1", "cm^cm^UCUM"]
    assert values["103340004"][5] == "11.5"
    comments = [s[5] for s in group if s[3].startswith("121106^")]
    assert comments == ["levels: L1, L2", "heterogeneous"]
    absent = [s for s in by_identifier(message, "121052") if s[5].startswith("272519000^")]
    undetermined = [s for s in by_identifier(message, "121052") if s[5].startswith("373068000^")]
    assert len(absent) == len(undetermined) == 1


def test_coded_finding_and_diagnoses():
    text = "Left renal cyst 2 cm. Diagnosis: Bosniak I cyst; differential: abscess.\n"
    cyst_code = Code("SCT", "36171008", "Cyst of kidney")
    report = CaseReport(
        case="coded", text=text,
        findings=(Finding("renal cyst", span_in(text, "renal cyst"), cyst_code,
                          sites=(Site("renal", span_in(text, "renal"), Code("SCT", "64033007", "Kidney")),),
                          laterality="left",
                          measurements=(Measurement(2, "cm", "2", span_in(text, "2 cm"), None),)),),
        diagnoses=(Diagnosis("Bosniak I cyst", span_in(text, "Bosniak I cyst"), cyst_code, "confirmed"),
                   Diagnosis("abscess", span_in(text, "abscess"), None, "differential")),
    )
    message = build_oru(report)
    parse_strict(message)
    (finding,) = by_identifier(message, "121071")
    assert finding[2] == "CWE" and finding[5] == "36171008^Cyst of kidney^SCT^^^^^^renal cyst"
    (measure,) = [s for s in obx(message) if s[2] == "NM"]
    assert measure[3] == "^Measurement of renal cyst" and measure[5] == "2"
    (impression,) = by_identifier(message, "121073")
    assert impression[5] == "36171008^Cyst of kidney^SCT^^^^^^Bosniak I cyst"
    (differential,) = by_identifier(message, "111023")
    assert differential[5] == "^abscess^^^^^^^abscess"
    assert len({impression[4], differential[4], finding[4]}) == 3  # one group each


def span_in(text: str, phrase: str):
    from caseconv.model import Span

    start = text.index(phrase)
    return Span(start, start + len(phrase))


def test_narrative_lines_as_tx_and_delimiters_escaped():
    text = "Mass | 3^4 cm & more ~ see \\ note.\nSecond line.\n"
    report = CaseReport(case="esc", text=text,
                        findings=(Finding("Mass | 3^4", span_in(text, "Mass | 3^4")),))
    message = build_oru(report)
    parsed = parse_strict(message)
    narrative = by_identifier(message, "59776-5")
    assert [s[2] for s in narrative] == ["TX", "TX"]
    assert narrative[0][5] == "Mass \\F\\ 3\\S\\4 cm \\T\\ more \\R\\ see \\E\\ note."
    (finding,) = by_identifier(message, "121071")
    assert finding[5].startswith("^Mass \\F\\ 3\\S\\4^")
    assert len(parsed.children) == 2  # MSH, PATIENT_RESULT: nothing split by a stray delimiter


def test_long_text_is_cut_to_the_component_limit():
    long = "very " * 80 + "long finding"
    text = long + "\n"
    report = CaseReport(case="long", text=text, findings=(Finding(long, span_in(text, long)),))
    message = build_oru(report)
    parse_strict(message)
    (finding,) = by_identifier(message, "121071")
    assert all(len(part) <= 199 for part in finding[5].split("^"))


def test_long_narrative_lines_are_wrapped_for_strict_receivers():
    line = " ".join(f"word{i}" for i in range(100)) + " " + "x|" * 150
    report = CaseReport(case="wrap", text=line + "\n")
    message = build_oru(report)
    parse_strict(message)
    narrative = [s[5] for s in by_identifier(message, "59776-5")]
    assert len(narrative) > 3 and all(len(part) <= 199 for part in narrative)
    unescaped = " ".join(narrative).replace("\\F\\", "|")
    assert unescaped.replace(" ", "") == line.replace(" ", "")
    assert wrap("a " * 3, 3) == ["a a", "a"]


def test_helpers():
    assert escape("a|b\n c") == "a\\F\\b c"
    assert number(12.0) == "12" and number(12.10) == "12.1" and number(1e-05) == "0.00001"
    hl7_concepts.check()
    assert hl7_concepts.concept("differential").value == "111023"
    assert span("psoas mass").end > span("psoas mass").start
