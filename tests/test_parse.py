"""The parser, construct by construct: each test states a sentence and what must come out."""

from __future__ import annotations

import pytest

from caseconv.model import CaseReport
from caseconv.parse import parse
from caseconv.parse.measure import age, duration, expand_level, levels, measurements
from caseconv.parse.text import InputError, clean, decode


def run(text: str) -> CaseReport:
    return parse(text, "t")


def finding(report: CaseReport, word: str):
    found = [f for f in report.findings if word.lower() in f.text.lower()]
    assert found, f"no finding with {word!r} in {[f.text for f in report.findings]}"
    return found[0]


def test_spans_index_the_input() -> None:
    text = "Findings:\nThere is a 3 cm mass in the left kidney. No hydronephrosis.\n"
    report = run(text)
    for item in (*report.findings, *report.diagnoses):
        assert 0 <= item.span.start < item.span.end <= len(text)
    mass = finding(report, "mass")
    assert text[mass.span.start: mass.span.end].endswith("mass")
    site = mass.sites[0]
    assert text[site.span.start: site.span.end] == "kidney"


# -- PDF artefacts -------------------------------------------------------------------------
def test_hyphenated_words_and_broken_lines_are_joined() -> None:
    cleaned = clean("MRI of the lumbo-\nsacral spine shows a large\nmass in the psoas.")
    assert cleaned.text == "MRI of the lumbosacral spine shows a large mass in the psoas."
    assert cleaned.span(11, 23).start == 11


def test_dash_at_line_end_keeps_the_range() -> None:
    assert "L1-L2 vertebrae" in clean("extending from L1\u2013\nL2 vertebrae").text


def test_reference_numbers_glued_to_words_are_dropped() -> None:
    cleaned = clean("They are classified on histology.1 They account for compression.3 Later")
    assert "histology. They" in cleaned.text and "compression. Later" in cleaned.text
    assert len(cleaned.citations) == 2


def test_ligatures_fold() -> None:
    assert clean("\ufb01ndings of \ufb02uid").text == "findings of fluid"


# -- encodings -----------------------------------------------------------------------------
def test_utf8_with_bom() -> None:
    assert decode("\ufeffA mass.".encode()) == ("A mass.", [])


def test_cp1252_falls_back_with_a_warning() -> None:
    text, warnings = decode(b"Caf\xe9 au lait \x96 lesion")
    assert text == "Caf\xe9 au lait \u2013 lesion" and warnings


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"), (b"   \n", "empty"), (b"%PDF-1.4 ...", "PDF"), (b"\x89PNG\r\n", "PNG"),
    (b"abc\x00def", "NUL"), (b"\x00" * 128 + b"DICM" + b"\x00" * 10, "DICOM"),
])
def test_binary_and_empty_input_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode(data)


# -- captions ------------------------------------------------------------------------------
@pytest.mark.parametrize(("caption", "label"), [
    ("Fig 1. Axial CT shows a mass.", "Fig 1"),
    ("Fig. 2A Coronal T2W image shows a mass.", "Fig 2A"),
    ("Figure 3: Sagittal STIR image shows a mass.", "Figure 3"),
    ("FIG 4 - Axial FLAIR image shows a mass.", "Fig 4"),
    ("Figure 2b. CT w/contrast (IV), axial. A mass.", "Figure 2b"),
    ("Image 1. CT, axial. A mass.", "Image 1"),
])
def test_caption_forms(caption: str, label: str) -> None:
    report = run(caption + "\n\nA 40-year-old man had imaging.")
    assert [f.label for f in report.figures] == [label]


def test_caption_sequences_planes_contrast() -> None:
    report = run("Fig 2. Pre- and post-contrast T1W coronal images show heterogeneous enhancement of the mass.\n\n"
                 "Fig 5. Post-contrast T1W and STIR axial images show the mass.\n\n"
                 "Figure 2c. MR T2* gradient, GRE, axial. Hypointense signal.\n\n"
                 "Figure 1b. CT - noncontrast, coronal. Acute hemorrhage.\n")
    fig2, fig5, fig2c, fig1b = report.figures
    assert fig2.sequences == ("T1W",) and fig2.planes == ("coronal",) and fig2.contrast == "pre and post"
    assert fig5.sequences == ("T1W", "STIR") and fig5.planes == ("axial",) and fig5.contrast == "post"
    assert "T2*" in fig2c.sequences and "GRE" in fig2c.sequences and fig2c.modality == "MR"
    assert fig1b.modality == "CT" and fig1b.contrast == "without" and fig1b.planes == ("coronal",)


def test_caption_findings_carry_their_figure() -> None:
    report = run("Fig 3. Coronal STIR image shows left hydronephrosis.\n\nA 50-year-old woman had an MRI.")
    assert finding(report, "hydronephrosis").source == "Fig 3"
    assert report.figures[0].findings == (0,)


# -- measurements and levels --------------------------------------------------------------
@pytest.mark.parametrize(("text", "values"), [
    ("12.1x11.5 cm", [(12.1, "cm"), (11.5, "cm")]),
    ("8.6 x 8.4 x 12.4 cm", [(8.6, "cm"), (8.4, "cm"), (12.4, "cm")]),
    ("20*10*19 mm", [(20, "mm"), (10, "mm"), (19, "mm")]),
    ("measuring 5 mm", [(5, "mm")]),
    ("up to 3 cm", [(3, "cm")]),
    ("3 cm in diameter", [(3, "cm")]),
    ("2.0 cm x 1.8 cm", [(2.0, "cm"), (1.8, "cm")]),
    ("BP 132/71, HR 88", []),
])
def test_measurement_forms(text: str, values: list) -> None:
    assert [(n.value, n.unit) for n in measurements(text)] == values


def test_two_dimensions_are_long_and_short_axis() -> None:
    assert [n.kind for n in measurements("4 x 1.8 cm")] == ["long axis", "short axis"]


@pytest.mark.parametrize(("text", "found"), [
    ("at L1", ["L1"]), ("at the L1-L2 disc", ["L1-L2"]), ("at L3-4", ["L3-L4"]), ("T12-L4 vertebrae", ["T12-L4"]),
    ("the C5/6 disc", ["C5-C6"]), ("L5-S1 level", ["L5-S1"]), ("signal on T1 images", []), ("L9", []),
    ("T2 hyperintense signal in the T11-T12 disc", ["T11-T12"]), ("T1-weighted image of the spine", []),
    ("intramedullary T2 hyperintensity of the cord", []), ("fracture of the T2 vertebra", ["T2"]),
])
def test_level_forms(text: str, found: list[str]) -> None:
    assert [level.text for level in levels(text)] == found


def test_level_ranges_touch_every_vertebra() -> None:
    assert expand_level("T12-L2") == ["T12", "L1", "L2"]
    assert expand_level("L2-L3") == ["L2", "L3"]


@pytest.mark.parametrize(("text", "value", "unit"), [
    ("A 70-year-old woman", 70, "a"), ("45 yo M", 45, "a"), ("75 y.o. man", 75, "a"), ("18yo man", 18, "a"),
    ("a 4-year-old boy", 4, "a"), ("a 6-month-old girl", 6, "mo"), ("a 3-day-old neonate", 3, "d"),
])
def test_age_forms(text: str, value: int, unit: str) -> None:
    found = age(text)
    assert found is not None and (found.value, found.unit) == (value, unit)


def test_duration_forms() -> None:
    assert duration("low back pain for the last 6 months") == (6, "mo")
    assert duration("c/o 5d of RLQ pain") == (5, "d")
    assert duration("dry cough x 6 months") == (6, "mo")


def test_patient_age_and_sex() -> None:
    report = run("A 70-year-old woman presented with low back pain for 6 months. MRI revealed a mass.")
    assert report.patient.age.value == 70 and report.patient.sex == "female"
    assert report.history[0].text == "low back pain" and report.history[0].duration.value == 6


# -- findings ------------------------------------------------------------------------------
def test_sites_laterality_levels_measurements_attach_to_their_finding() -> None:
    report = run("Findings:\nThere is a 4.2 x 2.1 cm fluid collection in the left psoas muscle at the level of L3-4.")
    collection = finding(report, "collection")
    assert [s.text for s in collection.sites] == ["psoas muscle"]
    assert collection.laterality == "left" and collection.levels == ("L3-L4",)
    assert [m.value for m in collection.measurements] == [4.2, 2.1]


def test_bilateral() -> None:
    report = run("Findings:\nBilateral pleural effusions are seen.")
    assert finding(report, "effusion").laterality == "bilateral"


@pytest.mark.parametrize("sentence", [
    "No evidence of free air.", "There is no free air.", "Free air is not seen.",
    "The study was negative for free air.",
])
def test_negation(sentence: str) -> None:
    report = run("Findings:\n" + sentence)
    assert finding(report, "free air").presence == "absent"


def test_negation_does_not_reach_the_next_sentence() -> None:
    report = run("Findings:\nNo free air. There is free fluid in the pelvis.")
    assert finding(report, "free fluid").presence == "present"


@pytest.mark.parametrize("sentence", [
    "A mass in the bladder, suggestive of a blood clot.", "A blood clot cannot be excluded.",
    "There is likely a blood clot in the bladder.",
])
def test_hedging(sentence: str) -> None:
    report = run("Findings:\n" + sentence)
    assert finding(report, "clot").presence == "uncertain"


def test_process_names_what_it_acts_on() -> None:
    report = run("Findings:\nThe mass extends into the left neural foramina at L2-L3 with compression of the exiting "
                 "nerve root.")
    assert finding(report, "compression").text == "compression of the exiting nerve root"
    extension = finding(report, "extension")
    assert extension.text.startswith("extension into") and "neural foramen" in [s.text for s in extension.sites]
    assert extension.laterality == "left" and extension.levels == ("L2-L3",)


def test_predicate_findings_keep_their_subject() -> None:
    report = run("Findings:\nThe appendix is markedly enlarged and edematous.")
    assert {f.text for f in report.findings} == {"appendix markedly enlarged", "appendix edematous"}
    assert all([s.text for s in f.sites] == ["appendix"] for f in report.findings)


def test_qualifier_takes_the_site_of_what_it_qualifies() -> None:
    report = run("Findings:\nThere is a mass in the right kidney. There is heterogeneous enhancement of the mass.")
    enhancement = finding(report, "enhancement")
    # the site of the mass applies; its side stays the mass's (the reference annotations omit it)
    assert [s.text for s in enhancement.sites] == ["kidney"] and enhancement.laterality is None


def test_caption_qualifier_takes_the_caption_finding_side() -> None:
    report = run("Figure 2. MR - FLAIR, axial. Subacute hemorrhage involving the left thalamus. "
                 "There is surrounding edema.\n\nA 70-year-old man.")
    edema = finding(report, "edema")
    assert [s.text for s in edema.sites] == ["thalamus"] and edema.laterality == "left"


def test_caption_repeating_the_narrative_is_one_finding() -> None:
    report = run("Fig 1. Axial CT shows the left renal mass.\n\n"
                 "A 60-year-old man. CT revealed a 3 cm mass in the left kidney.")
    masses = [f for f in report.findings if "mass" in f.text]
    assert len(masses) == 1 and report.figures[0].findings == (0,)
    assert [m.value for m in masses[0].measurements] == [3] and [s.text for s in masses[0].sites] == ["kidney"]


def test_left_and_right_are_two_findings_and_bilateral_summarises_them() -> None:
    report = run("Findings:\nBilateral psoas fluid collections are seen.\n"
                 "The left psoas fluid collection measures 2 x 4 cm.\n"
                 "The right psoas fluid collection measures 4 x 1 cm.")
    collections = [f for f in report.findings if "collection" in f.text]
    assert sorted(f.laterality for f in collections) == ["left", "right"]


# -- what is not this patient's imaging -----------------------------------------------------
def test_discussion_after_the_case_is_not_findings() -> None:
    report = run("A 60-year-old man. MRI revealed a large mass in the left psoas muscle.\n\n"
                 "Sarcomas are a heterogeneous group of tumours.1 Almost 50% of patients develop lung metastases and "
                 "pathological fracture.2 They account for 1% of tumours.\n")
    assert [f.text for f in report.findings] == ["large mass"]


def test_headed_discussion_and_exam_are_not_findings() -> None:
    report = run("Exam:\nNo masses, tender abdomen.\n\nFindings:\nA 2 cm cyst in the liver.\n\n"
                 "Discussion:\nCysts may cause hemorrhage and effusion.\n")
    assert [f.text for f in report.findings] == ["2 cm cyst"] or [f.text for f in report.findings] == ["cyst"]


def test_surgical_and_pathology_statements_are_not_imaging() -> None:
    report = run("A 30-year-old woman. Ultrasound revealed a lesion in the right kidney. She underwent nephrectomy; "
                 "the margins were free of tumor and there was no lymphadenopathy.")
    assert "lymphadenopathy" not in " ".join(f.text for f in report.findings)


# -- diagnoses ----------------------------------------------------------------------------------
def test_narrative_diagnosis_and_differentials() -> None:
    report = run("A 70-year-old woman. MRI revealed a mass. This mass was diagnosed as soft tissue sarcoma (STS). "
                 "Differential diagnoses included psoas abscess and metastases.")
    assert [(d.text, d.status) for d in report.diagnoses] == [
        ("soft tissue sarcoma", "confirmed"), ("psoas abscess", "differential"), ("metastases", "differential")]


def test_headed_diagnosis_and_differential_list() -> None:
    report = run("Findings:\nA mass.\n\nDifferential Diagnosis:\nTrauma\n Neoplasm\n Drugs (cocaine, amphetamines)\n\n"
                 "Case Diagnosis:\nTuberculosis Pott's Disease\n")
    assert [(d.text, d.status) for d in report.diagnoses] == [
        ("Trauma", "differential"), ("Neoplasm", "differential"), ("Drugs (cocaine, amphetamines)", "differential"),
        ("Tuberculosis Pott's Disease", "confirmed")]


def test_hedged_diagnosis_is_provisional() -> None:
    report = run("Findings:\nA renal mass, likely a diagnosis of renal cell carcinoma.")
    assert [d.status for d in report.diagnoses] == ["provisional"]


def test_procedures_modality_region_contrast() -> None:
    report = run("A 22-year-old male. Ultrasonography of the abdomen revealed a lesion. Chest radiograph and chest "
                 "computed tomography (CT) were negative for metastasis. CT of the abdomen after IV contrast showed "
                 "a mass.")
    found = {(p.modality, p.region.text if p.region else None) for p in report.procedures}
    assert {("US", "abdomen"), ("DX", "chest"), ("CT", "chest"), ("CT", "abdomen")} <= found


# -- constructs found on reports outside the development set -----------------------------------
def test_with_and_without_contrast_negates_nothing() -> None:
    report = run("MRI of the brain with and without gadolinium demonstrated an enhancing mass in the frontal lobe.")
    assert finding(report, "mass").presence == "present"
    assert report.procedures[0].contrast == "with and without"


def test_process_said_as_a_verb_names_its_object() -> None:
    report = run("Findings:\nA disc extrusion at L4-L5 compresses the traversing right L5 nerve root.")
    compression = finding(report, "compression")
    assert compression.text == "compression of the traversing right L5 nerve root"
    assert compression.laterality == "right" and [s.text for s in compression.sites] == ["nerve root"]


def test_attributive_adjective_names_what_it_qualifies() -> None:
    report = run("Findings:\nA few enlarged para-aortic lymph nodes were seen.")
    assert "enlarged para-aortic lymph nodes" in finding(report, "enlarged").text


def test_levels_from_to() -> None:
    assert [level.text for level in levels("a mass extending from L1 to L2 vertebra")] == ["L1-L2"]


def test_inline_heading_and_impression_diagnosis() -> None:
    report = run("Findings: Ultrasound shows gallstones within the gallbladder.\n"
                 "Impression: Findings are consistent with acute calculous cholecystitis.")
    assert finding(report, "gallstones").sites[0].text == "gallbladder"
    assert [(d.text, d.status) for d in report.diagnoses] == [("acute calculous cholecystitis", "confirmed")]


def test_pathology_confirms_the_diagnosis() -> None:
    report = run("A 45-year-old man. MRI revealed a mass in the frontal lobe. He underwent resection and "
                 "histopathology confirmed glioblastoma.")
    assert [(d.text, d.status) for d in report.diagnoses] == [("glioblastoma", "confirmed")]


def test_words_inside_an_anatomy_name_are_not_findings() -> None:
    report = run("Findings:\nNo free fluid was seen in the peritoneal cavity.")
    assert [(f.text, f.presence) for f in report.findings] == [("free fluid", "absent")]
    assert [s.text for s in report.findings[0].sites] == ["peritoneal cavity"]


def test_caption_ends_at_its_sentence_in_pdf_text() -> None:
    report = run("A 61-year-old man. CT of the abdomen showed a mass in the head of the pancreas.\n"
                 "Fig. 1 Axial CT image shows a pancreatic head mass.\n"
                 "The mass abutted the superior mesenteric vein. There was no encasement of the artery.\n")
    assert report.figures[0].caption == "Fig. 1 Axial CT image shows a pancreatic head mass."
    abutment = finding(report, "abutment")
    assert abutment.source == "narrative" and abutment.presence == "present"
    assert finding(report, "encasement").presence == "absent"


def test_normal_statements_are_not_findings() -> None:
    report = run("Findings:\nBowel gas pattern unremarkable, no air fluid levels.")
    assert [(f.text, f.presence) for f in report.findings] == [("air fluid levels", "absent")]


def test_follow_up_imaging_is_imaging_but_the_clinical_course_is_not() -> None:
    report = run("A 58-year-old man. CT of the abdomen demonstrated gas within the left kidney. He was treated "
                 "with antibiotics and no collection was drained. Follow-up CT after 2 weeks showed a small "
                 "residual perinephric collection measuring 2.5 x 1.5 cm.")
    collections = [f for f in report.findings if "collection" in f.text]
    assert [(f.presence, [m.value for m in f.measurements]) for f in collections] == [("present", [2.5, 1.5])]


@pytest.mark.parametrize(("text", "expected"), [
    ("A 40-year-old man. CT revealed a mass. Renal oncocytoma was diagnosed.", [("Renal oncocytoma", "confirmed")]),
    ("Abscess and lymphoma were considered in the differential diagnosis.",
     [("Abscess", "differential"), ("lymphoma", "differential")]),
    ("The differential diagnosis of a cystic renal mass includes cystic nephroma and abscess.",
     [("cystic nephroma", "differential"), ("abscess", "differential")]),
    ("Differential Diagnosis:\n- Meningioma\n- Schwannoma\n",
     [("Meningioma", "differential"), ("Schwannoma", "differential")]),
])
def test_diagnosis_wordings(text: str, expected: list) -> None:
    assert [(d.text, d.status) for d in run(text).diagnoses] == expected


def test_pathologic_fracture_is_an_imaging_finding() -> None:
    report = run("Findings:\nAn aggressive lytic and sclerotic lesion of the distal femur. No pathologic fracture.")
    assert finding(report, "lesion").text == "aggressive lytic and sclerotic lesion"
    assert finding(report, "fracture").presence == "absent"


def test_caption_acquisition_comes_from_its_first_sentence() -> None:
    report = run("Figure 1. Radiograph - frontal. Lesion of the distal femur.\n\n"
                 "Figure 2. MR - FLAIR, axial. Hemorrhage extending into the lateral ventricles, bright on T1.\n")
    radiograph, mri = report.figures
    assert (radiograph.modality, radiograph.planes) == ("DX", ("frontal",))
    assert (mri.sequences, mri.planes) == (("FLAIR",), ("axial",))


def test_a_reference_tissue_is_not_a_site() -> None:
    report = run("Findings:\nThere is a mass in the left frontal lobe. The mass is isointense to gray matter on T1.")
    assert [s.text for s in finding(report, "mass").sites] == ["frontal lobe"]


def test_pathology_diagnosis_does_not_take_the_verb() -> None:
    report = run("A 67-year-old woman. CT of the chest revealed pleural thickening. "
                 "Thoracoscopic pleural biopsy showed epithelioid malignant mesothelioma.")
    assert [(d.text, d.status) for d in report.diagnoses] == [("epithelioid malignant mesothelioma", "confirmed")]


def test_a_run_on_list_is_read_in_pieces_with_its_negations() -> None:
    """A list with no full stop (OCR, a pasted table) is one long sentence: ConText reads it
    in pieces cut after commas, so every "no mass" stays negated and the parse stays linear."""
    from caseconv.parse.index import ByStart
    from caseconv.parse.nlp import _CONTEXT_PIECE, _windows, pipeline

    text = "CT: " + "no mass in the left kidney, " * 300 + "no stone. There is a cyst in the liver."
    nlp, _ = pipeline()
    doc = nlp(text)
    ents = ByStart(list(doc.ents), lambda e: e.start)
    pieces = _windows(doc, 0, len(doc), ents)
    assert len(pieces) > 1 and pieces[0][0] == 0 and pieces[-1][1] == len(doc)
    assert all(b - a <= _CONTEXT_PIECE for a, b in pieces)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(doc[b - 1].text == "," for _, b in pieces[:-1])  # cut after a comma
    assert not any(e.start < b < e.end for _, b in pieces for e in doc.ents)  # never through an entity
    report = parse(text, "runon")
    masses = [f for f in report.findings if f.concept == "mass"]
    assert masses and all(f.presence == "absent" for f in masses)
    assert any(f.concept == "cyst" and f.presence == "present" for f in report.findings)


def test_a_finding_that_causes_another_stays_its_own() -> None:
    """'Edema causes effacement of the ventricle': two findings, the verb is no qualifier."""
    report = parse("MRI brain: Surrounding vasogenic edema causes effacement of the right lateral ventricle.", "c")
    found = {f.concept: f for f in report.findings}
    assert found["edema"].text == "Surrounding vasogenic edema"
    assert found["indentation"].text == "effacement of the right lateral ventricle"
    assert found["indentation"].laterality == "right"


@pytest.mark.parametrize(("text", "laterality"), [
    ("CT: Filling defects in the right and left main pulmonary arteries.", "bilateral"),
    ("CT: Filling defects in the left and right pulmonary arteries.", "bilateral"),
    ("CT: A thrombus in the right pulmonary artery.", "right"),
    ("CT: A mass in the left kidney.", "left"),
])
def test_both_sides_named_make_a_bilateral_finding(text: str, laterality: str) -> None:
    assert parse(text, "c").findings[0].laterality == laterality


@pytest.mark.parametrize(("text", "sides"), [
    ("MRI of the left knee showed a bucket-handle tear of the medial meniscus with a moderate joint effusion.",
     ["left", "left"]),
    ("MRI of the left knee was performed. There was a moderate joint effusion. The ACL was torn.", ["left", "left"]),
    ("X-ray of the left ankle showed a fracture.", ["left"]),
    ("CT of the abdomen showed a mass in the left kidney and free fluid.", ["left", None]),  # no side to the study
])
def test_a_finding_without_a_side_lies_in_the_side_the_study_covers(text: str, sides: list) -> None:
    assert [f.laterality for f in parse(text, "c").findings] == sides


def test_organ_headed_lines_of_a_dictated_report() -> None:
    """'Gallbladder: distended with wall thickening and pericholecystic fluid.': the organ
    heading is the site of the line's findings, and each finding keeps its own name."""
    text = ("FINDINGS:\nLiver: Normal.\nGallbladder: Distended with wall thickening and pericholecystic fluid.\n"
            "Kidneys: No hydronephrosis.\n")
    found = {f.text: f for f in parse(text, "c").findings}
    assert set(found) >= {"wall thickening", "pericholecystic fluid", "hydronephrosis"}
    assert [s.text for s in found["wall thickening"].sites] == ["gallbladder"]
    assert [s.text for s in found["pericholecystic fluid"].sites] == ["gallbladder"]
    assert [s.text for s in found["hydronephrosis"].sites] == ["kidney"]
    assert found["hydronephrosis"].presence == "absent"


def test_an_impression_that_favours_one_diagnosis_over_another() -> None:
    text = ("CT abdomen:\nFINDINGS:\nLiver: A 3 cm rim-enhancing collection, compatible with an abscess.\n\n"
            "IMPRESSION:\n1. Hepatic abscess; pyogenic abscess favored over amebic abscess.\n")
    found = {(d.text, d.status) for d in parse(text, "c").diagnoses}
    assert ("amebic abscess", "differential") in found
    assert ("pyogenic abscess", "provisional") in found
    assert ("abscess", "provisional") in found          # "compatible with" hedges
    assert not any("over" in text for text, _ in found)


@pytest.mark.parametrize(("title", "expected"), [
    ("Spinal epidural abscess complicating discitis: a case report", ["Spinal epidural abscess", "discitis"]),
    ("Bucket-handle meniscal tear in a young athlete", ["Bucket-handle meniscal tear"]),
    ("Lymphoma mimicking a pyogenic abscess", ["Lymphoma"]),           # not what it only looked like
])
def test_a_title_names_the_diagnosis_the_body_does_not_state(title: str, expected: list[str]) -> None:
    text = f"{title}\n\nA 40-year-old man presented with pain. MRI showed a mass in the thigh.\n"
    report = parse(text, "c")
    assert [d.text for d in report.diagnoses] == expected
    assert all(d.status == "confirmed" for d in report.diagnoses)


def test_a_title_is_not_read_when_the_body_states_the_diagnosis() -> None:
    text = ("Abscess of the thigh: a case report\n\nA 40-year-old man presented with pain. MRI showed a mass. "
            "Biopsy confirmed lymphoma.\n")
    assert [d.text for d in parse(text, "c").diagnoses] == ["lymphoma"]


@pytest.mark.parametrize(("text", "presence", "laterality", "sites"), [
    ("MRI: The previously seen cyst has resolved.", "absent", None, []),
    ("X-ray: Fracture of the right fifth metatarsal base.", "present", "right", ["fifth metatarsal"]),
])
def test_resolved_findings_and_numbered_bones(text: str, presence: str, laterality: str | None, sites: list) -> None:
    finding = parse(text, "c").findings[0]
    assert (finding.presence, finding.laterality, [s.text for s in finding.sites]) == (presence, laterality, sites)


@pytest.mark.parametrize(("text", "expected"), [
    ("CT: A 12 mm nodule in the right upper lobe and a 4 mm nodule in the left lower lobe.",
     [("nodule", [12.0], "right"), ("nodule", [4.0], "left")]),
    ("CT: Hepatic lesions measure 1.5 and 2.2 cm.", [("Hepatic lesions", [1.5, 2.2], None)]),
    ("US: Mild hydronephrosis on the left.", [("Mild hydronephrosis", [], "left")]),
    ("MRI: A well-defined T1 hypointense, T2 hyperintense mass in the left thigh.",
     [("well-defined T1 hypointense, T2 hyperintense mass", [], "left")]),
])
def test_sizes_sides_and_weightings_go_to_their_finding(text: str, expected: list) -> None:
    found = [(f.text, [m.value for m in f.measurements], f.laterality) for f in parse(text, "c").findings]
    assert found == expected


def test_a_listed_number_shares_the_unit_but_an_age_does_not() -> None:
    assert [(n.value, n.unit) for n in measurements("1, 2 and 3 mm")] == [(1, "mm"), (2, "mm"), (3, "mm")]
    assert [(n.value, n.unit) for n in measurements("aged 45 and a 3 cm lesion")] == [(3, "cm")]


def test_venous_sinuses_signs_and_absent_flow() -> None:
    text = ("CT head: The superior sagittal sinus appeared hyperdense (cord sign). MR venography shows absent flow "
            "in the right transverse sinus.")
    found = {f.concept: f for f in parse(text, "c").findings}
    assert "superior sagittal sinus" in [s.text for s in found["hyperdensity"].sites]
    assert found["cord sign"].sites == ()                          # the cord of a cord sign is no site
    assert found["vascularity"].presence == "absent"               # "absent flow"
    assert [s.text for s in found["vascularity"].sites] == ["transverse sinus"]


def test_compound_words_and_noun_coordinations() -> None:
    """The skin of "onion-skin" is no site; "component and extensive marrow oedema" is no name."""
    report = parse("Radiographs showed a lytic lesion of the right femur with an onion-skin periosteal reaction. "
                   "MRI shows a large soft-tissue component and extensive marrow oedema.", "c")
    found = {f.concept: f for f in report.findings}
    assert [s.text for s in found["lytic lesion"].sites] == ["femur"]
    assert found["edema"].text == "extensive marrow oedema"


@pytest.mark.parametrize(("text", "finding", "diagnosis"), [
    ("CT: Possible small pneumothorax on the right.", ("small pneumothorax", "uncertain", "right"), None),
    ("CT: Rule out abscess.", ("abscess", "uncertain", None), None),
    ("CT: Findings may represent early appendicitis.", None, ("early appendicitis", "provisional")),
])
def test_hedge_words_are_no_part_of_a_name(text: str, finding: tuple | None, diagnosis: tuple | None) -> None:
    report = parse(text, "c")
    assert [(f.text, f.presence, f.laterality) for f in report.findings] == ([finding] if finding else [])
    assert [(d.text, d.status) for d in report.diagnoses] == ([diagnosis] if diagnosis else [])


def test_a_teaching_file_with_modality_headings() -> None:
    """Radiopaedia's layout: Presentation, Patient Data, a modality heading over the findings,
    Case Discussion; the title names the diagnosis."""
    text = ("Case: Chronic subdural haematoma\n\nPresentation\nElderly man with confusion.\n\nPatient Data\n"
            "Age: 82 years\nGender: Male\n\nCT Brain\nA crescentic hypodense extra-axial collection overlies the "
            "left convexity. No hydrocephalus.\n\nCase Discussion\nThe main differential is a subdural hygroma.\n")
    report = parse(text, "c")
    assert [(f.concept, f.presence) for f in report.findings] == [("fluid collection", "present"),
                                                                   ("hydrocephalus", "absent")]
    assert [(d.text, d.status) for d in report.diagnoses] == [("Chronic subdural haematoma", "confirmed")]
    assert (report.patient.age.value, report.patient.sex) == (82, "male")


def test_two_findings_of_one_kind_named_apart_in_a_sentence() -> None:
    """'a disc bulge with a superimposed protrusion ... lateral recess stenosis and central canal
    stenosis': four findings; 'two appendicoliths, one of 12 mm and a smaller 6 mm
    appendicolith' stays one."""
    spine = parse("MRI: At L4-L5, there is a broad-based disc bulge with a superimposed right paracentral protrusion "
                  "causing moderate right lateral recess stenosis and mild central canal stenosis.", "c")
    assert [f.text for f in spine.findings] == ["broad-based disc bulge", "superimposed right paracentral protrusion",
                                                "moderate right lateral recess stenosis", "mild central canal stenosis"]
    counted = parse("CT: Two appendicoliths within the appendix, one measuring 12 mm and a smaller 6 mm "
                    "appendicolith.", "c")
    assert [(f.text, [m.value for m in f.measurements]) for f in counted.findings] == [
        ("Two appendicoliths", [12.0, 6.0])]


def test_a_mammogram_with_spiculated_margins_is_imaging() -> None:
    """'margins' alone is no pathology cue: 'spiculated margins' describe a mass on imaging."""
    report = parse("Mammography showed an irregular mass with spiculated margins and pleomorphic "
                   "microcalcifications in the left breast.", "c")
    assert {f.concept for f in report.findings} >= {"mass", "microcalcification"}
    assert parse("The resection margins were free of tumor.", "c").findings == ()


@pytest.mark.parametrize(("text", "sites"), [
    ("CT:\nGallbladder: A 1.1 cm gallstone is present in the neck.\n", ["gallbladder"]),  # the gallbladder's neck
    ("CT neck: A 3 cm mass in the left neck.", ["neck"]),
])
def test_a_neck_near_an_organ_with_a_neck_is_that_organs(text: str, sites: list[str]) -> None:
    assert [s.text for s in parse(text, "c").findings[0].sites] == sites


def test_a_caption_with_panels_gives_one_figure_per_panel() -> None:
    """'Fig. 1 a Axial CT ... b Sagittal T1-weighted MRI ... c MR venography ...': three panels,
    each with its own acquisition and the finding it shows."""
    report = run("Fig. 1 a Axial non-contrast CT shows right parietal hemorrhage. b Sagittal T1-weighted MRI shows\n"
                 "hyperintense thrombus in the superior sagittal sinus. c MR venography shows absent flow.\n\n"
                 "A 34-year-old woman presented with headache.")
    panels = {f.label: f for f in report.figures}
    assert list(panels) == ["Fig 1a", "Fig 1b", "Fig 1c"]
    assert (panels["Fig 1a"].modality, panels["Fig 1a"].planes) == ("CT", ("axial",))
    assert (panels["Fig 1b"].modality, panels["Fig 1b"].sequences, panels["Fig 1b"].planes) == \
        ("MR", ("T1W",), ("sagittal",))
    shown = {label: [report.findings[i].text for i in figure.findings] for label, figure in panels.items()}
    assert shown == {"Fig 1a": ["right parietal hemorrhage"], "Fig 1b": ["hyperintense thrombus"],
                     "Fig 1c": ["absent flow"]}
    assert [f.source for f in report.findings[:3]] == ["Fig 1a", "Fig 1b", "Fig 1c"]


def test_the_narrative_points_its_findings_to_figures() -> None:
    """'(Fig. 1b, c)' in the narrative shows the finding in panels b and c."""
    report = run("Fig. 1 a Axial CT shows a hemorrhage. b Sagittal T1-weighted MRI shows a thrombus. c MR venography "
                 "shows absent flow.\n\nA 34-year-old woman. MRI confirmed thrombosis of the sinus (Fig. 1b, c). "
                 "CT showed a 3 cm hematoma (Figure 1a).")
    shown = {f.label: {report.findings[i].text for i in f.findings} for f in report.figures}
    assert "thrombosis" in shown["Fig 1b"] and "thrombosis" in shown["Fig 1c"]
    assert "hematoma" in shown["Fig 1a"] and "hematoma" not in shown["Fig 1b"]


def test_a_semicolon_ends_a_negation_and_a_side_can_open_the_clause() -> None:
    report = parse("CT: There is no hydronephrosis on the right; on the left there is moderate hydronephrosis.", "c")
    assert [(f.text, f.presence, f.laterality) for f in report.findings] == [
        ("hydronephrosis", "absent", "right"), ("moderate hydronephrosis", "present", "left")]


@pytest.mark.parametrize(("text", "presence"), [
    ("CT: Interval resolution of the pleural effusion.", "absent"),
    ("CT: The previously seen mass is no longer seen.", "absent"),
    ("CT: Near-complete resolution of the hematoma.", "present"),   # some is left
    ("CT: Partial resolution of the consolidation.", "present"),
])
def test_resolution_on_follow_up(text: str, presence: str) -> None:
    assert parse(text, "c").findings[0].presence == presence


def test_a_qualified_descriptor_describes_its_finding_as_the_bare_one_does() -> None:
    """"heterogeneous enhancement" has a code of its own, and still takes the sites of the mass it
    describes, as "enhancement" does; "bone marrow edema" is a finding of its own place."""
    report = parse("CT: A 4 cm mass in the left kidney. The mass shows heterogeneous enhancement and no "
                   "internal vascularity on Doppler. MRI knee: bone marrow edema in the lateral femoral condyle.", "c")
    found = {f.concept: f for f in report.findings}
    assert [s.text for s in found["heterogeneous enhancement"].sites] == ["kidney"]
    assert found["heterogeneous enhancement"].laterality == "left"
    assert found["internal vascularity"].presence == "absent"
    assert [s.text for s in found["internal vascularity"].sites] == ["kidney"]
    assert found["bone marrow edema"].text == "bone marrow edema"


@pytest.mark.parametrize("text", [
    "X-ray abdomen: The bowel gas pattern is unremarkable in the left lower quadrant.",
    "CT: Renal enhancement was normal in the right kidney.",
])
def test_a_sentence_whose_only_finding_is_said_normal_gives_none(text: str) -> None:
    """Every finding named is normal and a structure is named too: no finding, and no crash."""
    assert parse(text, "c").findings == ()


def test_a_normal_word_after_a_preposition_is_about_the_next_thing() -> None:
    report = parse("Echocardiography showed moderate aortic regurgitation with preserved left ventricular ejection "
                   "fraction and no signs of tamponade.", "c")
    found = {f.text: f.presence for f in report.findings}
    assert found.get("moderate aortic regurgitation") == "present"


def test_a_dissection_case_reads_as_a_radiologist_would() -> None:
    """ECG and the clinical differential are no imaging findings; a widening and an aneurysmal
    aorta are; a site after a semicolon stays in its clause; a diagnosis name runs across a
    parenthesis inside it."""
    report = parse(
        "Case presentation\nThe ECG showed left ventricular hypertrophy. The clinical differential included acute "
        "coronary syndrome and pulmonary embolism. A chest radiograph showed widening of the superior mediastinum, "
        "measuring 9.4 cm, without pneumothorax. CT angiography: the ascending aorta was aneurysmal, measuring "
        "5.3 cm. The left kidney showed reduced cortical enhancement; the right kidney enhanced normally. The final "
        "diagnosis was acute Stanford type A (DeBakey type I) aortic dissection with haemopericardium.", "c")
    found = {f.text: f for f in report.findings}
    assert "left ventricular hypertrophy" not in found and "pulmonary embolism" not in found
    widening = found["widening of the superior mediastinum"]
    assert [m.value for m in widening.measurements] == [9.4] and found["pneumothorax"].measurements == ()
    assert [m.value for m in found["aneurysmal"].measurements] == [5.3]
    assert found["reduced cortical enhancement"].laterality == "left"
    diagnoses = {(d.text, d.status) for d in report.diagnoses}
    assert ("acute Stanford type A (DeBakey type I) aortic dissection", "confirmed") in diagnoses
    assert ("pulmonary embolism", "differential") in diagnoses


def test_a_diagnosis_heading_on_the_line_of_its_diagnosis_is_no_part_of_it() -> None:
    report = parse("CT: A renal mass.\nFinal diagnosis: renal cell carcinoma (clear cell type).", "c")
    assert [d.text for d in report.diagnoses] == ["renal cell carcinoma (clear cell type)"]


def test_an_aspiration_is_no_finding_and_a_differential_loses_its_article() -> None:
    report = parse("MRI: A lobulated mass in the left parotid gland. The radiological differential diagnosis included "
                   "pleomorphic adenoma and a low-grade mucoepidermoid carcinoma. Ultrasound-guided fine-needle "
                   "aspiration yielded chondromyxoid stroma.", "c")
    assert [f.text for f in report.findings] == ["lobulated mass"]
    assert [d.text for d in report.diagnoses] == ["pleomorphic adenoma", "low-grade mucoepidermoid carcinoma"]


@pytest.mark.parametrize(("source", "expected"), [
    ("an ill-\ndefined lesion", "an ill-defined lesion"),        # a compound keeps its hyphen
    ("a high-\ngrade tumour", "a high-grade tumour"),
    ("contrast-\nenhanced CT", "contrast-enhanced CT"),
    ("cortical enhance-\nment", "cortical enhancement"),         # a word broken in two is joined
    ("neo-\nadjuvant", "neoadjuvant"),
    ("relapsing-\nremitting", "relapsing-remitting"),           # a participle is a whole word
])
def test_a_hyphen_at_a_line_end(source: str, expected: str) -> None:
    assert clean(source).text == expected


def test_a_hedge_between_commas_is_no_differential_and_a_confirmed_name_is_not_also_provisional() -> None:
    report = parse("MRI: An ill-defined lesion of the femur. A focus in the proximal femur, possibly representing a "
                   "skip metastasis. The differential diagnosis included osteosarcoma, Ewing sarcoma and, less likely, "
                   "subacute osteomyelitis. Core needle biopsy revealed a high-\ngrade osteoblastic osteosarcoma. "
                   "Histology confirmed the focus as a skip metastasis.", "c")
    diagnoses = [(d.text, d.status) for d in report.diagnoses]
    assert [d for d in diagnoses if d[1] == "differential"] == [
        ("osteosarcoma", "differential"), ("Ewing sarcoma", "differential"), ("subacute osteomyelitis", "differential")]
    assert ("high-grade osteoblastic osteosarcoma", "confirmed") in diagnoses
    assert ("skip metastasis", "confirmed") in diagnoses and ("skip metastasis", "provisional") not in diagnoses


def test_a_differential_for_one_lesion_ends_where_a_new_clause_begins() -> None:
    report = parse("CT: A 2.7 cm left adrenal nodule. The differential for the adrenal nodule included lipid-poor "
                   "adenoma versus metastasis, and for the vertebral lesion an atypical haemangioma was considered, "
                   "but PET findings supported metastatic disease. Aspirated fluid had a high amylase.", "c")
    assert [(d.text, d.status) for d in report.diagnoses] == [("lipid-poor adenoma", "differential"),
                                                             ("metastasis", "differential")]
    assert [f.text for f in report.findings] == ["left adrenal nodule"]


def test_the_finding_a_negation_is_located_in_is_not_itself_absent() -> None:
    report = parse("CT: A heterogeneous mass arising from the right kidney. No calcification was identified within "
                   "the mass.", "c")
    assert [(f.text, f.presence) for f in report.findings] == [("heterogeneous mass", "present"),
                                                              ("calcification", "absent")]


def test_an_adnexal_mass_has_its_site_and_normal_flow_is_no_finding() -> None:
    report = parse("US: A complex cystic mass in the right adnexa measuring 7.2 x 6.4 cm. The left ovary showed "
                   "normal flow.", "c")
    assert [(f.text, [s.text for s in f.sites], f.laterality) for f in report.findings] == [
        ("complex cystic mass", ["uterine adnexa"], "right")]


def test_none_of_the_lesions_negates_what_they_show_not_the_lesions() -> None:
    report = parse("MRI: Multiple white matter lesions. None of the lesions showed restricted diffusion.", "c")
    assert [(f.text, f.presence) for f in report.findings] == [("Multiple white matter lesions", "present"),
                                                              ("restricted diffusion", "absent")]


def test_an_impression_hedges_after_the_name_and_negates_over_a_few_words() -> None:
    report = parse("FINDINGS: A 3.2 cm enhancing solid mass in the right kidney.\nIMPRESSION:\n1. Enhancing renal "
                   "mass, highly suspicious for renal cell carcinoma. Oncocytoma or lipid-poor angiomyolipoma "
                   "cannot be excluded.\n2. Cholelithiasis without CT evidence of acute cholecystitis.", "c")
    diagnoses = {d.text: d.status for d in report.diagnoses}
    assert diagnoses.get("renal cell carcinoma") == "provisional"
    assert diagnoses.get("Oncocytoma") == "provisional" and diagnoses.get("lipid-poor angiomyolipoma") == "provisional"
    assert "acute cholecystitis" not in diagnoses


def test_a_study_heading_on_its_own_line_opens_the_findings_of_a_teaching_case() -> None:
    report = parse("Cerebellar pilocytic astrocytoma\n\nPatient Data\nAge: 7 years\nGender: Male\n\n"
                   "CT Head non-contrast\nLarge, predominantly cystic mass in the right cerebellar hemisphere. "
                   "No calcification.\n\n"
                   "MRI Brain with contrast\nThe mural nodule enhances avidly.\n\nCase Discussion\nPilocytic "
                   "astrocytomas are the most common posterior fossa tumour of childhood.", "c")
    found = [(f.text, f.presence) for f in report.findings]
    assert ("predominantly cystic mass", "present") in found and ("calcification", "absent") in found
    assert report.patient.age is not None and report.patient.age.value == 7


def test_what_density_may_obscure_and_a_blood_gas_are_no_findings() -> None:
    report = parse("Mammography: The breasts are heterogeneously dense, which may obscure small masses. "
                   "Capillary gas: pH 7.52.", "c")
    assert [(f.text, f.presence) for f in report.findings] == [("small masses", "uncertain")]


def test_a_section_heading_ends_the_imaging_of_the_abstract_before_it() -> None:
    report = parse("Abstract\nMRI demonstrated a dorsal epidural collection.\n\nCase report\nA 63-year-old man "
                   "presented with back pain, fever and urinary retention. CRP was 246 mg/L.", "c")
    assert [f.text for f in report.findings] == ["dorsal epidural collection"]


@pytest.mark.parametrize(("text", "site", "side"), [
    ("US: A 2 cm lesion located in the upper pole of right kidney.", "upper pole of kidney", "right"),
    ("CT: A cyst in the lower pole of the left kidney.", "lower pole of kidney", "left"),
])
def test_a_part_named_with_the_side_of_its_organ(text: str, site: str, side: str) -> None:
    finding = parse(text, "c").findings[0]
    assert ([s.text for s in finding.sites], finding.laterality) == ([site], side)


def test_the_inferior_pole_of_the_spleen_is_no_pole_of_a_kidney() -> None:
    report = parse("CT abdomen:\nSpleen: Parenchymal laceration of the inferior pole, 3.6 cm deep. Small volume "
                   "haemoperitoneum.", "c")
    found = {f.text: [s.text for s in f.sites] for f in report.findings}
    assert found["Parenchymal laceration"] == ["spleen"] and "Small volume haemoperitoneum" in found


def test_a_mammogram_finding_at_the_palpable_marker_is_read_and_its_distance_is_no_size() -> None:
    report = parse("MAMMOGRAPHY FINDINGS:\nLeft breast: Underlying the palpable marker, at 10 o'clock, 4 cm from the "
                   "nipple, there is a new irregular high-density mass, measuring 14 mm on tomosynthesis.", "c")
    assert [(f.text, [m.value for m in f.measurements], f.laterality) for f in report.findings] == [
        ("new irregular high-density mass", [14], "left")]


def test_a_palpable_lump_on_examination_is_no_imaging_finding() -> None:
    report = parse("A 52-year-old woman. On palpation there was a tender lump in the left breast. CT: No mass.", "c")
    assert [(f.text, f.presence) for f in report.findings] == [("mass", "absent")]


def test_an_absent_finding_takes_no_size_and_a_diagnosis_set_aside_is_none() -> None:
    report = parse("Findings:\nBoth kidneys are normal in size (right 5.8 cm, left 6.0 cm), with no hydronephrosis.\n"
                   "Conclusion:\nInfantile hypertrophic pyloric stenosis. Malrotation is not suggested.", "c")
    hydronephrosis = next(f for f in report.findings if f.concept == "hydronephrosis")
    assert hydronephrosis.presence == "absent" and hydronephrosis.measurements == ()
    assert [d.text for d in report.diagnoses] == ["Infantile hypertrophic pyloric stenosis"]


def test_a_lumbar_spine_report_names_its_degenerative_findings() -> None:
    report = parse("MRI LUMBAR SPINE\nFINDINGS:\nL4-L5: Broad-based disc bulge with a left paracentral annular "
                   "fissure. Moderate bilateral facet arthropathy and ligamentum flavum hypertrophy. Modic type 2 "
                   "changes.\nL5-S1: Disc desiccation and loss of disc height.", "c")
    found = {f.text: (f.code, f.levels) for f in report.findings}
    for name, level in (("left paracentral annular fissure", "L4-L5"),
                        ("Moderate bilateral facet arthropathy", "L4-L5"), ("ligamentum flavum hypertrophy", "L4-L5"),
                        ("Disc desiccation", "L5-S1"), ("loss of disc height", "L5-S1")):
        assert level in found[name][1], name
    assert any("Modic type 2" in text for text in found)


def test_a_removed_tube_is_absent_and_a_calcified_granuloma_is_a_finding() -> None:
    from caseconv.pipeline import extract

    report = extract("XR CHEST:\nFINDINGS:\nThe endotracheal tube has been removed. Unchanged 8 mm calcified granuloma "
                     "in the left lung. No free subdiaphragmatic air.", "c")
    found = {f.text: (f.presence, f.code.value if f.code else None) for f in report.findings}
    assert found["endotracheal tube"][0] == "absent"
    assert found["calcified granuloma"] == ("present", "RID3953")
    assert found["free subdiaphragmatic air"] == ("absent", "RID4803")


def test_a_finding_named_by_the_narrative_takes_the_concept_of_that_name() -> None:
    """A caption's "spiculated mass" merged into the narrative's "lesion" must not lend the
    narrative's name the caption's concept (and code)."""
    report = parse("Fig. 1 Contrast-enhanced CT. a Axial lung window image shows a spiculated\nmass in the posterior "
                   "segment of the right upper lobe. b Sagittal bone\nwindow reformat shows a lytic lesion of the T8 "
                   "vertebral body.\n\nA lytic lesion with cortical destruction occupied most of the T8 vertebral "
                   "body.\n\nMRI of the thoracic spine confirmed a T1-hypointense lesion replacing the\nmarrow of T8, "
                   "with no cord signal change.", "c")
    found = {f.text: f.concept for f in report.findings}
    assert found.get("hypointense lesion") == "lesion", found


def test_a_field_strength_ends_a_sentence_and_an_eponymous_pattern_names_no_site() -> None:
    report = parse("MRI of the brain, orbits and whole spine was performed at 3 T. On FLAIR images there were multiple "
                   "ovoid hyperintense lesions in the periventricular white matter ('Dawson fingers').", "c")
    found = {f.text: [s.text for s in f.sites] for f in report.findings}
    assert found["multiple ovoid hyperintense lesions"] == ["white matter"]
    assert found["Dawson fingers"] == []
