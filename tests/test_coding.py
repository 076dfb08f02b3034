"""Coding: tables turn terms into codes; what no table codes is kept and listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseconv.coding import UnmappedError, code_report
from caseconv.coding.tables import TableError, Tables, load_tables, normalize, read_table, singular
from caseconv.model import CaseReport, Diagnosis, Finding, Site, Span

HEADER = "# table: {kind}\n# version: test\n# sources: test\nterm,synonyms,scheme,code,display,source\n"


def _tables(tmp_path: Path) -> Tables:
    (tmp_path / "findings.csv").write_text(HEADER.format(kind="findings") +
                                           "mass,masses|tumour,SCT,4147007,Mass,DICOM PS3.16 CID 6102\n")
    (tmp_path / "anatomy.csv").write_text(HEADER.format(kind="anatomy") +
                                          "kidney,renal,SCT,64033007,Kidney,DICOM PS3.16 CID 4030\n"
                                          "psoas muscle,psoas,,,,no verified code\n")
    (tmp_path / "diagnoses.csv").write_text(HEADER.format(kind="diagnoses") +
                                            "sarcoma,,SCT,1187396000,Sarcoma,DICOM PS3.16 CID 638\n")
    return Tables(c for p in sorted(tmp_path.glob("*.csv")) for c in read_table(p))


def _layered(tmp_path: Path, kind: str, *, curated: str, verified: str) -> Tables:
    """A curated row over a verified one, loaded in the shipped order (verified first)."""
    (tmp_path / "verified").mkdir()
    paths = [tmp_path / "verified" / f"{kind}.csv", tmp_path / f"{kind}.csv"]
    for path, row in zip(paths, (verified, curated), strict=True):
        path.write_text(HEADER.format(kind=kind) + row + "\n")
    return Tables(c for path in paths for c in read_table(path))


def _report() -> CaseReport:
    text = "A mass in the kidney and the psoas. Sarcoma or hemangioma."
    return CaseReport("c", text, findings=(
        Finding("mass", Span(2, 6), sites=(Site("kidney", Span(14, 20)), Site("psoas muscle", Span(29, 34))),
                concept="mass"),),
        diagnoses=(Diagnosis("Sarcoma", Span(36, 43), status="differential"),
                   Diagnosis("hemangioma", Span(47, 57), status="differential")))


def test_three_row_table_codes_the_report(tmp_path: Path) -> None:
    coded = code_report(_report(), _tables(tmp_path))
    finding = coded.findings[0]
    assert (finding.code.scheme, finding.code.value) == ("SCT", "4147007")
    assert finding.sites[0].code.value == "64033007" and finding.sites[1].code is None
    assert coded.diagnoses[0].code.value == "1187396000" and coded.diagnoses[1].code is None
    assert {(u.text, u.kind) for u in coded.unmapped} == {("psoas muscle", "site"), ("hemangioma", "diagnosis")}
    assert coded.unmapped[0].span is not None


@pytest.mark.parametrize(("text", "code"), [
    ("Ruptured appendicitis", "74400008"),            # a kind of appendicitis: its head is coded
    ("Hypertensive intracerebral hemorrhage", "274100004"),
    ("Septic embolism", "RID4836"),                    # its own RadLex concept, before "embolism"
    ("Hemorrhagic infarction", "RID5172"),
    ("Osteomyelitis of the spine", "60168000"),        # a trailing "of" phrase is a site
    ("Pyogenic osteitis of the spine", "84172003"),    # osteitis of the spine is spondylitis
    ("Non-ossifying fibroma of femur", None),          # "non-" alters what follows
    ("Right-sided Wilms tumour (nephroblastoma) with tumour thrombus", "302849000"),  # the tumour, not its thrombus
    ("Neuroblastoma arising from the adrenal gland", "432328008"),
    ("Right adnexal torsion secondary to a mature cystic teratoma", "RID4813"),  # the torsion, not its cause
    ("Adenocarcinoma of the right upper lobe, cT2b N2 M1c", "1187332001"),   # a TNM stage is no alternative
    ("Relapsing-remitting multiple sclerosis fulfilling the McDonald criteria", "426373005"),
    ("Non Hodgkin lymphoma", "1172592001"),            # its own concept, not Hodgkin's
    ("Pseudo aneurysm", None),
    ("Abscess or hematoma", None),                     # alternatives: neither is the whole
    ("Sarcoma, lymphoma", None),
    ("Hodgkin lymphoma", "1163005009"),
])
def test_a_diagnosis_is_coded_by_its_head_only_when_that_stays_true(text: str, code: str | None) -> None:
    report = CaseReport("c", text, diagnoses=(Diagnosis(text, Span(0, len(text))),))
    coded = code_report(report, load_tables()).diagnoses[0]
    assert (coded.code.value if coded.code else None) == code
    assert coded.text == text


def test_a_word_that_alters_the_rest_stops_the_head_fallback(tmp_path: Path) -> None:
    (tmp_path / "diagnoses.csv").write_text(HEADER.format(kind="diagnoses") +
                                            "hodgkin lymphoma,,SCT,1163005009,Hodgkin's lymphoma,test\n")
    tables = Tables(read_table(tmp_path / "diagnoses.csv"))
    report = CaseReport("c", "x", diagnoses=(Diagnosis("non Hodgkin lymphoma", Span(0, 1)),
                                             Diagnosis("nodular sclerosing Hodgkin lymphoma", Span(0, 1))))
    coded = code_report(report, tables).diagnoses
    assert coded[0].code is None and coded[1].code.value == "1163005009"


@pytest.mark.parametrize(("text", "code"), [
    ("upper pole of kidney", "RID206"),         # a part a table names has its own code
    ("upper pole of the spleen", "78961009"),   # a part of the spleen lies in the spleen
    ("lower pole of the left kidney", "RID207"),  # the side is a laterality, the part a table names
    ("wall of the appendix", "66754008"),
    ("body of the gallbladder", "28231008"),
    ("paravertebral region", None),             # beside the vertebra, not in it
    ("kidney", "64033007"),
])
def test_a_part_of_a_structure_is_coded_by_the_structure(text: str, code: str | None) -> None:
    report = CaseReport("c", text, findings=(Finding("mass", Span(0, 1), sites=(Site(text, Span(0, len(text))),)),))
    site = code_report(report, load_tables()).findings[0].sites[0]
    assert (site.code.value if site.code else None) == code and site.text == text


def test_strictness(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    with pytest.warns(UserWarning, match="2 unmapped terms"):
        code_report(_report(), tables, "warn")
    with pytest.raises(UnmappedError, match="hemangioma"):
        code_report(_report(), tables, "error")


def test_site_tables_override_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "anatomy.csv").write_text(HEADER.format(kind="anatomy") +
                                          "fat plane,fat planes,SCT,71616004,Muscle,a site's own table\n"
                                          "kidney,,SCT,64033007,Kidney structure,a site's own display\n")
    tables = load_tables((str(tmp_path),))
    assert tables.lookup("anatomy", "fat planes").code.value == "71616004"
    assert tables.lookup("anatomy", "kidney").code.display == "Kidney structure"
    assert load_tables().lookup("anatomy", "fat plane").code is None


def test_bad_table_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    path.write_text(HEADER.format(kind="findings") + "mass,,XYZ,1,Mass,somewhere\n")
    with pytest.raises(TableError, match=r"findings.csv:5: code scheme"):
        read_table(path)
    path.write_text(HEADER.format(kind="findings") + "mass,,SCT,4147007,Mass,\n")
    with pytest.raises(TableError, match="names no source"):
        read_table(path)


@pytest.mark.parametrize(("word", "single"), [
    ("foramina", "foramen"), ("vertebrae", "vertebra"), ("metastases", "metastasis"), ("kidneys", "kidney"),
    ("masses", "mass"), ("effusions", "effusion"), ("pelvis", "pelvis"), ("abscess", "abscess"),
    ("calcifications", "calcification"), ("bodies", "body"),
])
def test_singular(word: str, single: str) -> None:
    assert singular(word) == single


def test_normalize() -> None:
    assert normalize("Neural Foramina") == normalize("neural foramen")
    assert normalize("lumbo-sacral spine") == "lumbo sacral spine"
    assert normalize("Pott's disease") == normalize("pott disease")


def test_shipped_tables_code_the_sample_concepts() -> None:
    tables = load_tables()
    for kind, term, code in [("findings", "soft tissue mass", "4147007"), ("anatomy", "thalamus", "42695009"),
                             ("anatomy", "L1 vertebra", "66794005"), ("diagnoses", "STS", "424952003"),
                             ("symptoms", "low back pain", "279039007")]:
        concept = tables.lookup(kind, term)
        assert concept is not None and concept.code is not None and concept.code.value == code, term


def test_a_name_means_the_concept_that_codes_it(tmp_path: Path) -> None:
    """A curated concept listing a name that a later table codes on its own gives that name
    up: the parser's concept for "subluxation" is subluxation, not dislocation."""
    tables = _layered(tmp_path, "findings", curated="dislocation,subluxation|dislocated,,,,curated: no code",
                      verified="joint subluxation,subluxation,SCT,263031003,Subluxation of joint,test")
    names = tables.names("findings")
    assert names["subluxation"].term == "joint subluxation"
    assert names["dislocated"].term == "dislocation"


@pytest.mark.parametrize(("text", "concept", "code"), [
    ("CT: Free fluid in the pelvis.", "fluid in peritoneal cavity", "271861000"),
    ("CT: Fluid in the left pleural space.", "fluid", None),         # not peritoneal fluid
    ("MRI: Collapse of the L2 vertebral body.", "collapse", None),    # not atelectasis
    ("CT: Ventriculomegaly.", "ventriculomegaly", None),             # not always hydrocephalus
])
def test_shipped_tables_do_not_code_a_word_by_a_narrower_concept(text: str, concept: str, code: str | None) -> None:
    from caseconv.pipeline import extract

    found = [f for f in extract(text, "c").findings if f.concept == concept]
    assert found and (found[0].code.value if found[0].code else None) == code


def test_acronyms_in_capitals_match_as_written() -> None:
    """ "ALL" (a leukaemia), "GIST", "AAA" are table names in capitals: the words "all",
    "gist" do not match them, the acronyms do."""
    from caseconv.pipeline import extract

    report = extract("CT abdomen: All loops of bowel are normal. The gist is that no AAA is seen.\n\n"
                     "Impression: GIST of the stomach.", "c")
    assert [(f.concept, f.presence) for f in report.findings] == [("abdominal aortic aneurysm", "absent")]
    assert [d.code.value for d in report.diagnoses if d.code] == ["420120006"]


@pytest.mark.parametrize(("text", "concept", "code"), [
    ("sigmoid volvulus", "volvulus", "197060001"),               # more specific words: their code
    ("severe spinal canal stenosis", "spinal canal stenosis", "76107001"),
    ("joint space narrowing", "joint space narrowing", None),    # not broader: narrowing is no stenosis here
    ("bone marrow edema", "bone marrow edema", None),
    ("subcutaneous emphysema", "emphysema", None),               # emphysema alone is no lung disease here
])
def test_a_finding_is_coded_by_its_concept_or_a_narrower_one(text: str, concept: str, code: str | None) -> None:
    from caseconv.coding.coder import _finding

    coded = _finding(load_tables(), Finding(text, Span(0, len(text)), concept=concept))
    assert (coded.code.value if coded.code else None) == code


def test_a_curated_name_takes_the_code_of_its_concept(tmp_path: Path) -> None:
    tables = _layered(tmp_path, "diagnoses", curated="subdural hematoma,subdural haematoma,,,,curated: no code",
                      verified="subdural hematoma,,SCT,95453001,Subdural intracranial hematoma,test")
    assert tables.lookup("diagnoses", "subdural haematoma").code.value == "95453001"


@pytest.mark.parametrize(("text", "display"), [
    ("CT: A 5 mm non-obstructing calculus in the lower pole of the left kidney.", "Kidney stone"),
    ("CT: A cyst in the right kidney.", "Cyst of kidney"),
    ("X-ray: Fracture of the right femur.", "Fracture of femur"),
    ("CT: A mass in the liver.", "Liver mass"),
    ("MRI: partial tear of the anterior cruciate ligament.", "ACL tear"),  # a tear, not a rupture
    ("CT: Hypodense lesions in the liver and spleen.", "Lesion"),     # two organs: no liver lesion
])
def test_a_finding_is_coded_with_its_site_where_a_table_names_both(text: str, display: str | None) -> None:
    from caseconv.pipeline import extract

    finding = extract(text, "c").findings[0]
    assert (finding.code.display if finding.code else None) == display


def test_cardiomegaly_has_the_code_snomed_gives_it_not_the_one_ps3_16_lists() -> None:
    """PS3.16 CID 12248 lists 287272002 as Cardiomegaly; SNOMED CT names that code Enlarged septal
    foramen of heart (pydicom carries both), and the GPS gives Cardiomegaly 8186001."""
    concept = load_tables().lookup("findings", "cardiomegaly")
    assert concept is not None and concept.code is not None
    assert (concept.code.scheme, concept.code.value) == ("SCT", "8186001")
