"""The TID 1500 Imaging Measurement Report content tree of a `CaseReport`.

Built with highdicom's templates so that their argument checks run. What the templates
cannot express is added as plain content items, each a relationship the Comprehensive 3D
SR IOD allows (checked by DCMTK's dsrdump in the tests):

- an uncoded finding keeps its text in a TEXT "Finding" item instead of a guessed code;
- an uncoded site is a TEXT "Finding Site" (with its laterality as a modifier);
- a number whose unit or kind pydicom cannot code stays as TEXT "Comment";
- the diagnosis and differentials go in TID 1500's report-level "Qualitative
  Evaluations" container (highdicom builds measurement groups only).

With images, a group whose finding a matched figure shows references those images as
"Source of Measurement" (TID 1501's image row, CID 7551: "Best illustration of finding"
is not among its purposes, so it is used in TID 2000 only).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import highdicom.sr as hsr
from highdicom.sr import CodedConcept, RelationshipTypeValues
from pydicom import Dataset

from caseconv import __version__
from caseconv.dicom.concepts import (
    DEFAULT_KINDS,
    KIND_CODES,
    QUALITATIVE_EVALUATIONS,
    C,
    coded,
    modality,
    ucum,
)
from caseconv.ids import NAMESPACE, dicom_uid
from caseconv.model import CaseReport, Diagnosis, Finding, Measurement

CONTAINS = RelationshipTypeValues.CONTAINS
MODIFIER = RelationshipTypeValues.HAS_CONCEPT_MOD

#: The device observer UID names caseconv itself, not a case: the same in every SR.
DEVICE_UID = f"2.25.{uuid.uuid5(NAMESPACE, 'device/caseconv').int}"


def observation_context() -> hsr.ObservationContext:
    """caseconv as the device observer (TID 1004), its version in the model name."""
    device = hsr.DeviceObserverIdentifyingAttributes(
        uid=DEVICE_UID,
        name="caseconv",
        manufacturer_name="caseconv",
        model_name=f"caseconv {__version__}",
    )
    return hsr.ObservationContext(
        observer_device_context=hsr.ObserverContext(
            observer_type=C["device"],
            observer_identifying_attributes=device,
        )
    )


def procedures_reported(report: CaseReport) -> list[CodedConcept]:
    """The procedure codes, or the DCM modality (CID 29) of a procedure without one.

    A case without any procedure falls back to the figures' modalities, then to OT.
    """
    result: list[CodedConcept] = []
    for procedure in report.procedures:
        concept = coded(procedure.code) if procedure.code else modality(procedure.modality)
        if concept is not None and concept not in result:
            result.append(concept)
    if not result:
        for figure in report.figures:
            concept = modality(figure.modality) if figure.modality else None
            if concept is not None and concept not in result:
                result.append(concept)
    if not result:
        result.append(modality("OT"))
    return result


def measurement_names(measurements: tuple[Measurement, ...]) -> list[CodedConcept | None]:
    """What each number measures: its own kind, else the default for that many numbers.

    Two unkinded lengths are long and short axis by size, not by the order written.
    """
    unkinded = [i for i, m in enumerate(measurements) if m.kind is None]
    kinds: list[str | None] = [m.kind for m in measurements]
    defaults = DEFAULT_KINDS.get(len(unkinded))
    if defaults is not None:
        order = unkinded
        if len(unkinded) == 2:
            sizes = [measurements[i].millimetres for i in unkinded]
            if None not in sizes and sizes[1] > sizes[0]:
                order = [unkinded[1], unkinded[0]]
        for index, kind in zip(order, defaults, strict=True):
            kinds[index] = kind
    return [KIND_CODES.get(kind.lower()) if kind else None for kind in kinds]


def _finding_sites(finding: Finding) -> tuple[list[hsr.FindingSite], list[hsr.ContentItem]]:
    laterality = C[finding.laterality] if finding.laterality else None
    sites: list[hsr.FindingSite] = []
    extra: list[hsr.ContentItem] = []
    for site in finding.sites:
        if site.code is not None:
            sites.append(hsr.FindingSite(coded(site.code), laterality=laterality))
            continue
        item = hsr.TextContentItem(C["finding_site"], site.text, MODIFIER)
        if laterality is not None:
            item.ContentSequence = hsr.ContentSequence(
                [hsr.CodeContentItem(C["laterality"], laterality, MODIFIER)]
            )
        extra.append(item)
    if laterality is not None and not finding.sites:
        extra.append(hsr.CodeContentItem(C["laterality"], laterality, MODIFIER))
    return sites, extra


def measurement_group(report: CaseReport, index: int,
                      images: Sequence[Dataset] = ()) -> hsr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 for `report.findings[index]`, tracked by the finding's text and a derived UID.

    `images` are the instances the finding's figures were matched to (Source of Measurement).
    """
    finding = report.findings[index]
    tracking = hsr.TrackingIdentifier(
        uid=dicom_uid(report, "finding", str(index)), identifier=finding.text
    )
    sites, extra = _finding_sites(finding)
    measurements: list[hsr.Measurement] = []
    for measurement, name in zip(finding.measurements, measurement_names(finding.measurements), strict=True):
        unit = ucum(measurement.unit)
        if name is None or unit is None:
            extra.append(hsr.TextContentItem(C["comment"], measurement.text, CONTAINS))
            continue
        measurements.append(hsr.Measurement(name=name, value=measurement.value, unit=unit))
    group = hsr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=coded(finding.code) if finding.code else None,
        finding_sites=sites or None,
        measurements=measurements or None,
        qualitative_evaluations=[hsr.QualitativeEvaluation(C["presence"], C[finding.presence])],
        source_images=[hsr.SourceImageForMeasurementGroup(ds.SOPClassUID, ds.SOPInstanceUID)
                       for ds in images] or None,
    )
    items = group[0].ContentSequence
    presence = len(items) - 1 - len(images)  # the evaluation precedes the image references
    for item in reversed(extra):  # before the presence evaluation
        items.insert(presence, item)
    if finding.code is None:  # where the Finding code would be: after the tracking ids
        items.insert(2, hsr.TextContentItem(C["finding"], finding.text, CONTAINS))
    return group


def _diagnosis_item(diagnosis: Diagnosis) -> hsr.ContentItem:
    name = C["differential"] if diagnosis.status == "differential" else C["impression"]
    if diagnosis.code is not None:
        return hsr.CodeContentItem(name, coded(diagnosis.code), CONTAINS)
    return hsr.TextContentItem(name, diagnosis.text, CONTAINS)


def report_evaluations(report: CaseReport) -> hsr.ContainerContentItem | None:
    """TID 1500's "Qualitative Evaluations": the impression first, then differentials."""
    ordered = sorted(report.diagnoses, key=lambda d: d.status == "differential")
    if not ordered:
        return None
    container = hsr.ContainerContentItem(QUALITATIVE_EVALUATIONS, relationship_type=CONTAINS)
    container.ContentSequence = hsr.ContentSequence([_diagnosis_item(d) for d in ordered])
    return container


def measurement_report(report: CaseReport,
                       references: Mapping[int, Sequence[Dataset]] | None = None) -> hsr.ContentSequence:
    """The root of the TID 1500 tree (a one-item sequence).

    `references` maps a finding index to the images its group references.

    highdicom's `MeasurementReport` needs at least one measurement group; a case with
    diagnoses but no findings gets the same root built item by item.
    """
    evaluations = report_evaluations(report)
    if not report.findings and evaluations is None:
        raise ValueError(f"case {report.case!r} has neither findings nor diagnoses: no SR to write")
    if report.findings:
        root = hsr.MeasurementReport(
            observation_context=observation_context(),
            procedure_reported=procedures_reported(report),
            imaging_measurements=[measurement_group(report, i, (references or {}).get(i, ()))
                                  for i in range(len(report.findings))],
        )
    else:
        item = hsr.ContainerContentItem(C["document_title"], template_id="1500")
        content = hsr.ContentSequence()
        content.extend(hsr.LanguageOfContentItemAndDescendants(hsr.templates.DEFAULT_LANGUAGE))
        content.extend(observation_context())
        for procedure in procedures_reported(report):
            content.append(hsr.CodeContentItem(C["procedure_reported"], procedure, MODIFIER))
        item.ContentSequence = content
        root = hsr.ContentSequence([item], is_root=True)
    if evaluations is not None:
        root[0].ContentSequence.append(evaluations)
    return root
