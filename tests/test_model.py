"""The CaseReport model: checked on construction, round-trips through its JSON form."""

from __future__ import annotations

import pytest

from caseconv.model import (
    Age,
    CaseReport,
    Code,
    Diagnosis,
    Figure,
    Finding,
    HistoryItem,
    Measurement,
    Patient,
    Procedure,
    Quantity,
    Site,
    Span,
    Unmapped,
)

TEXT = "A 70-year-old woman. MRI shows a 12.1x11.5 cm mass in the left psoas at L1-L2."


def _report() -> CaseReport:
    mass = Code("SCT", "4147007", "Mass")
    return CaseReport(
        case="c1", text=TEXT,
        patient=Patient(Age(70, "a", Span(2, 13)), "female", Span(14, 19)),
        procedures=(Procedure("MRI", Span(21, 24), "MR", Site("lumbar spine"), "with"),),
        history=(HistoryItem("back pain", Span(0, 5), None, Quantity(6, "mo"), "left"),),
        findings=(Finding("mass", Span(45, 49), mass, (Site("psoas muscle", Span(62, 67)),), "left", ("L1-L2",),
                          (Measurement(12.1, "cm", "12.1x11.5 cm", Span(33, 45), "long axis"),
                           Measurement(11.5, "cm", "12.1x11.5 cm", Span(33, 45), "short axis")),
                          "present", "Fig 1", ("heterogeneous",), "mass"),),
        diagnoses=(Diagnosis("sarcoma", Span(0, 3), None, "differential"),),
        figures=(Figure("Fig 1", "axial", Span(0, 5), ("T1W",), ("axial",), "post", "MR", (0,)),),
        unmapped=(Unmapped("psoas muscle", Span(62, 67), "site"),),
    )


def test_round_trip_through_json_form() -> None:
    report = _report()
    assert CaseReport.from_dict(report.to_dict()) == report


def test_json_contract_keys() -> None:
    data = _report().to_dict(include_text=False)
    assert set(data) >= {"case", "patient", "procedures", "history", "findings", "diagnoses", "figures", "unmapped"}
    finding = data["findings"][0]
    assert finding["code"] == {"system": "http://snomed.info/sct", "code": "4147007", "display": "Mass"}
    assert finding["span"] == [45, 49]
    assert [m["value"] for m in finding["measurements"]] == [12.1, 11.5]
    assert data["patient"]["age"]["value"] == 70 and data["patient"]["age"]["unit"] == "a"
    assert data["procedures"][0]["region"]["text"] == "lumbar spine"
    assert "text" not in data


@pytest.mark.parametrize(("make", "argument"), [
    (lambda: Span(5, 2), "span"),
    (lambda: Code("XYZ", "1", "x"), "code scheme"),
    (lambda: Finding("mass", Span(0, 1), presence="maybe"), "finding presence"),
    (lambda: Finding("mass", Span(0, 1), laterality="up"), "finding laterality"),
    (lambda: Finding("", Span(0, 1)), "finding text"),
    (lambda: Diagnosis("x", Span(0, 1), status="likely"), "diagnosis status"),
    (lambda: Procedure("x", Span(0, 1), "XX"), "procedure modality"),
    (lambda: Measurement(-1, "mm", "x", Span(0, 1)), "measurement value"),
    (lambda: Age(70, "years"), "age unit"),
    (lambda: CaseReport("c", "short", findings=(Finding("mass", Span(0, 99)),)), "outside the text"),
])
def test_invalid_values_name_the_argument(make, argument) -> None:
    with pytest.raises(ValueError, match=argument):
        make()


def test_codes_equal_on_scheme_and_value() -> None:
    assert Code("SCT", "4147007", "Mass") == Code("SCT", "4147007", "mass (morphologic abnormality)")
    assert Code("SCT", "4147007", "Mass") != Code("DCM", "4147007", "Mass")


def test_measurement_in_millimetres() -> None:
    assert Measurement(1.2, "cm", "1.2 cm", Span(0, 6)).millimetres == 12.0
    assert Measurement(3, "mL", "3 mL", Span(0, 4)).millimetres is None
