"""Property: any valid CaseReport gives a bundle that passes every check, byte-stable."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseconv.fhir import build_bundle, bundle_json
from caseconv.fhir.validate import validate_bundle
from caseconv.model import (
    AGE_UNITS,
    LATERALITIES,
    MODALITIES,
    PRESENCES,
    SEXES,
    STATUSES,
    Age,
    CaseReport,
    Code,
    Diagnosis,
    Figure,
    Finding,
    Measurement,
    Patient,
    Procedure,
    Site,
    Span,
)

TEXT = "x" * 200
words = st.text(alphabet="abcdefghij <>&\"'é", min_size=1, max_size=12).filter(str.strip)
spans = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(lambda t: Span(t[0], t[0] + t[1]))
codes = st.none() | st.builds(Code, st.just("SCT"), st.from_regex(r"[1-9][0-9]{5,8}", fullmatch=True), words)
sites = st.builds(Site, words, st.none() | spans, codes)
units = st.sampled_from(["mm", "cm", "cc"])
measurements = st.builds(Measurement, st.floats(0, 1000, allow_nan=False), units, words, spans,
                         st.none() | st.sampled_from(["long axis", "girth"]))
findings = st.builds(Finding, words, spans, codes, st.lists(sites, max_size=3).map(tuple),
                     st.none() | st.sampled_from(LATERALITIES), st.lists(words, max_size=2).map(tuple),
                     st.lists(measurements, max_size=3).map(tuple), st.sampled_from(PRESENCES),
                     st.just("narrative"), st.lists(words, max_size=2).map(tuple))
reports = st.builds(
    CaseReport, st.just("prop"), st.just(TEXT),
    st.builds(Patient, st.none() | st.builds(Age, st.integers(0, 120), st.sampled_from(AGE_UNITS), spans),
              st.none() | st.sampled_from(SEXES)),
    st.lists(st.builds(Procedure, words, spans, st.sampled_from(MODALITIES)), max_size=2).map(tuple),
    st.just(()),
    st.lists(findings, max_size=4).map(tuple),
    st.lists(st.builds(Diagnosis, words, spans, codes, st.sampled_from(STATUSES)), max_size=3).map(tuple),
    st.lists(st.builds(Figure, st.sampled_from(["Fig 1", "Fig 2"]), words, spans), max_size=3).map(tuple),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports, version=st.sampled_from(["R4", "R5"]),
       bundle_type=st.sampled_from(["collection", "transaction"]))
def test_any_report_gives_a_valid_stable_bundle(report, version, bundle_type):
    bundle = build_bundle(report, version=version, bundle_type=bundle_type)
    assert validate_bundle(bundle, version=version) == []
    assert bundle_json(report, version=version, bundle_type=bundle_type) == bundle_json(
        report, version=version, bundle_type=bundle_type)
