"""CaseReport -> FHIR Bundle (R4 through ``fhir.resources.R4B``, R5 through ``fhir.resources``).

Each finding becomes a measurement group Observation shaped after the HL7 "DICOM SR to
FHIR Resource Mapping" guide (TID 1501): category DCM 125007, ``partOf`` the ImagingStudy
(reference plus Study Instance UID identifier), ``device`` caseconv, ``hasMember`` one
Observation per measurement and per qualitative evaluation (descriptor). Presence is the
group's value (CID 240 Present / Absent / Undetermined). Everything extracted from the
text carries a ``derivation-reference`` extension (offset, length) into the
DocumentReference that holds the source text. Figures become R4 Media / R5
DocumentReferences with their captions, and ImagingStudy series (one per figure). A
diagnosis is a Condition; an asserted primary cancer is shaped after mCODE's
PrimaryCancerCondition (rule and data in `caseconv.fhir.cancer`). Numbers written without
a kind get the SR writer's default kinds (``default_kinds`` in codes.json).

All ids are uuid5 over the text's digest and a role (`caseconv.ids.content_uuid`): the
same report gives the same bytes, with no clock unless ``issued`` is given.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from html import escape
from typing import Any

import caseconv
from caseconv import ids
from caseconv.fhir import cancer, terms
from caseconv.model import CaseReport, Code, Finding, Measurement, Site, Span

VERSIONS = ("R4", "R5")
BUNDLE_TYPES = ("collection", "transaction")
Json = dict[str, Any]


def _cc(code: Code | None, text: str) -> Json:
    """A CodeableConcept: the code when the coder found one, always the text as written."""
    concept: Json = {"text": text}
    if code is not None:
        concept["coding"] = [code.to_dict()]
    return concept


def _concept(coding: dict[str, str]) -> Json:
    return {"coding": [coding], "text": coding.get("display", coding["code"])}


class _Writer:
    """Holds the report and the choices of one bundle while its resources are made."""

    def __init__(self, report: CaseReport, version: str, bundle_type: str, issued: datetime | None):
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
        if bundle_type not in BUNDLE_TYPES:
            raise ValueError(f"bundle_type must be one of {', '.join(BUNDLE_TYPES)}, not {bundle_type!r}")
        if issued is not None and (issued.tzinfo is None or issued.utcoffset() is None):
            raise ValueError("issued must be a timezone-aware datetime (FHIR instants carry a zone)")
        self.report = report
        self.r5 = version == "R5"
        self.bundle_type = bundle_type
        self.issued = issued.isoformat() if issued else None
        self.entries: list[tuple[str, Json]] = []

    # identifiers and references -------------------------------------------------------------
    def uuid(self, *role: str) -> str:
        return str(ids.content_uuid(self.report, *role))

    def ref(self, *role: str) -> Json:
        return {"reference": f"urn:uuid:{self.uuid(*role)}"}

    def study_ref(self) -> Json:
        """The guide's ImagingStudy reference: the bundle link plus the Study Instance UID."""
        return {**self.ref("ImagingStudy"), "identifier": {
            "type": _concept(terms.coding("study_instance_uid")),
            "system": terms.url("dicom_uid"),
            "value": f"urn:oid:{ids.study_instance_uid(self.report)}"}}

    def add(self, resource: Json, *role: str) -> str:
        """Give a resource its id and uuid identifier and queue it as a bundle entry.

        The identifier is a uuid of its own, not the fullUrl: servers rewrite every
        occurrence of a fullUrl in a transaction (Medplum does so in identifiers too),
        which would break the conditional create (ifNoneExist) on a second upload.
        """
        uid = self.uuid(*role)
        resource["id"] = uid
        own = {"system": terms.url("uri"), "value": f"urn:uuid:{self.uuid('identifier', *role)}"}
        resource["identifier"] = [own, *resource.get("identifier", [])]
        ordered = {"resourceType": resource.pop("resourceType"), "id": resource.pop("id"), **resource}
        self.entries.append((uid, ordered))
        return uid

    def derivation(self, span: Span | None, path: str | None = None) -> Json:
        """A derivation-reference extension pointing into the DocumentReference's text."""
        parts: list[Json] = [{"url": "reference", "valueReference": self.ref("DocumentReference")}]
        parts.append({"url": "path", "valueString": path or "DocumentReference.content.attachment"})
        if span is not None:
            parts.append({"url": "offset", "valueInteger": span.start})
            parts.append({"url": "length", "valueInteger": span.end - span.start})
        return {"url": terms.url("derivation_reference"), "extension": parts}

    # shared pieces ----------------------------------------------------------------------------
    def site_concept(self, site: Site, laterality: str | None = None) -> Json:
        concept = _cc(site.code, site.text)
        extension = []
        if site.span is not None:
            extension.append(self.derivation(site.span))
        if laterality and not self.r5:
            extension.append({"url": terms.url("laterality_qualifier_r4"),
                              "valueCodeableConcept": _concept(terms.coding(laterality))})
        if extension:
            concept = {"extension": extension, **concept}
        return concept

    def attachment(self, title: str) -> Json:
        data = base64.b64encode(self.report.text.encode("utf-8")).decode("ascii")
        return {"contentType": "text/plain; charset=utf-8", "data": data, "title": title}

    def issued_field(self, resource: Json, name: str = "issued") -> None:
        if self.issued:
            resource[name] = self.issued

    # resources ---------------------------------------------------------------------------------
    def patient(self) -> None:
        patient: Json = {"resourceType": "Patient",
                         "identifier": [{"value": ids.patient_id(self.report)}]}
        sex = self.report.patient.sex
        if sex:
            patient["gender"] = sex
            if self.report.patient.sex_span:
                patient["_gender"] = {"extension": [self.derivation(self.report.patient.sex_span)]}
        self.add(patient, "Patient")
        age = self.report.patient.age
        if age is not None:
            self.add({
                "resourceType": "Observation",
                "extension": [self.derivation(age.span)],
                "status": "final",
                "code": {"coding": [terms.coding("age"), terms.coding("subject_age")], "text": "Age"},
                "subject": self.ref("Patient"),
                **({"issued": self.issued} if self.issued else {}),
                "valueQuantity": {"value": age.value, "unit": terms.ucum_display(age.unit),
                                  "system": terms.url("ucum"), "code": age.unit},
                "derivedFrom": [self.ref("DocumentReference")],
            }, "Observation", "age")

    def device(self) -> None:
        if self.r5:
            device: Json = {"resourceType": "Device", "status": "active",
                            "name": [{"value": "caseconv", "type": "user-friendly-name"}]}
        else:
            device = {"resourceType": "Device", "status": "active",
                      "deviceName": [{"name": "caseconv", "type": "user-friendly-name"}]}
        device["version"] = [{"value": caseconv.__version__}]
        self.add(device, "Device")

    def document(self) -> None:
        document: Json = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                          "type": _concept(terms.coding("report")), "subject": self.ref("Patient")}
        self.issued_field(document, "date")
        document["description"] = f"Source text of case report {self.report.case}"
        document["content"] = [{"attachment": self.attachment(self.report.case)}]
        self.add(document, "DocumentReference")

    def modalities(self) -> list[str]:
        found = [p.modality for p in self.report.procedures]
        found += [f.modality for f in self.report.figures if f.modality]
        return list(dict.fromkeys(found))

    def imaging_study(self) -> None:
        report = self.report
        uid = ids.study_instance_uid(report)
        study: Json = {"resourceType": "ImagingStudy",
                       "identifier": [{"system": terms.url("dicom_uid"), "value": f"urn:oid:{uid}"}],
                       "status": "available"}
        modalities = [terms.modality(m) for m in self.modalities()]
        if modalities:
            study["modality"] = [{"coding": [m]} for m in modalities] if self.r5 else modalities
        study["subject"] = self.ref("Patient")
        study["numberOfSeries"] = len(report.figures)
        if report.procedures:
            concepts = _unique([_cc(p.code, p.text) for p in report.procedures])
            if self.r5:
                study["procedure"] = [{"concept": c} for c in concepts]
            else:
                study["procedureCode"] = concepts
            # one sentence may name several procedures ("chest radiograph, CT and bone scan"): once
            study["description"] = "; ".join(dict.fromkeys(p.text for p in report.procedures))[:1024]
        default = self.modalities()[0] if len(self.modalities()) == 1 else "OT"
        series = []
        for number, figure in enumerate(report.figures, start=1):
            mod = terms.modality(figure.modality or default)
            item: Json = {"uid": series_uid(report, number - 1), "number": number,
                          "modality": {"coding": [mod]} if self.r5 else mod,
                          "description": _series_description(figure)}
            series.append(item)
        if series:
            study["series"] = series
        self.add(study, "ImagingStudy")

    def figures(self) -> None:
        """One resource per figure holding its caption: R4 Media, R5 DocumentReference."""
        for index, figure in enumerate(self.report.figures):
            mod = {"coding": [terms.modality(figure.modality or (self.modalities() or ["OT"])[0])]}
            if self.r5:
                resource: Json = {
                    "resourceType": "DocumentReference", "extension": [self.derivation(figure.span)],
                    "status": "current", "modality": [mod], "subject": self.ref("Patient"),
                    "description": figure.caption or figure.label,
                    "content": [{"attachment": {"title": figure.label}}],
                }
            else:
                resource = {
                    "resourceType": "Media", "extension": [self.derivation(figure.span)],
                    "partOf": [self.ref("ImagingStudy")], "status": "completed", "modality": mod,
                    "subject": self.ref("Patient"),
                    **({"issued": self.issued} if self.issued else {}),
                    "content": {"title": figure.label},
                    "note": [{"text": figure.caption or figure.label}],
                }
            self.add(resource, "Figure", str(index))

    def figures_of(self, index: int) -> list[int]:
        return [i for i, figure in enumerate(self.report.figures) if index in figure.findings]

    def imaging_observation(self, code: Json, span: Span) -> Json:
        """The elements every imaging Observation shares (guide: ImagingObservationProfile)."""
        observation: Json = {"resourceType": "Observation", "extension": [self.derivation(span)],
                             "partOf": [self.study_ref()], "status": "final",
                             "category": [_concept(terms.fhir_coding("category_imaging"))],
                             "code": code, "subject": self.ref("Patient")}
        self.issued_field(observation)
        return observation

    def finding(self, index: int, finding: Finding) -> None:
        group = self.imaging_observation(_cc(finding.code, finding.text), finding.span)
        group["category"].insert(0, _concept(terms.coding("measurement_group")))
        group["valueCodeableConcept"] = _presence(finding)
        if finding.presence == "uncertain":
            group["note"] = [{"text": "Presence uncertain (hedged in the source text)."}]
        if finding.sites:
            group["bodySite"] = self.site_concept(finding.sites[0], finding.laterality)
        components = []
        extra_sites = finding.sites[1:] if not self.r5 else ()
        for site in extra_sites:
            components.append({"code": _concept(terms.coding("finding_site")),
                               "valueCodeableConcept": self.site_concept(site, finding.laterality)})
        for level in finding.levels:
            components.append({"code": _concept(terms.coding("finding_site")),
                               "valueCodeableConcept": {"text": level}})
        if finding.laterality and not finding.sites:
            # no site to qualify ("left sided hydronephrosis"): the side is a component of its own
            components.append({"code": _concept(terms.coding("laterality")),
                               "valueCodeableConcept": _concept(terms.coding(finding.laterality))})
        if self.r5 and finding.sites:
            group["bodyStructure"] = self.ref("BodyStructure", str(index))
            self.body_structure(index, finding)
        group["derivedFrom"] = [self.ref("DocumentReference"),
                                *(self.ref("Figure", str(i)) for i in self.figures_of(index))]
        members = []
        for j, _ in enumerate(finding.measurements):
            members.append(self.ref("Observation", "finding", str(index), "measurement", str(j)))
        for j, _ in enumerate(finding.descriptors):
            members.append(self.ref("Observation", "finding", str(index), "descriptor", str(j)))
        if members:
            group["hasMember"] = members
        if components:
            group["component"] = components
        group["device"] = self.ref("Device")
        self.add(group, "Observation", "finding", str(index))
        for j, measurement in enumerate(finding.measurements):
            self.measurement(index, j, finding, measurement)
        for j, descriptor in enumerate(finding.descriptors):
            member = self.imaging_observation({"text": "Descriptor"}, finding.span)
            member["valueCodeableConcept"] = {"text": descriptor}
            member["device"] = self.ref("Device")
            self.add(member, "Observation", "finding", str(index), "descriptor", str(j))

    def measurement(self, index: int, j: int, finding: Finding, measurement: Measurement) -> None:
        name = measurement.kind or terms.default_kinds(finding.measurements)[j]
        kind = terms.measurement_kind(name)
        if kind:
            code = {"coding": [kind], "text": name}
        else:
            code = {"text": f"{name or 'Measurement'} of {finding.text}"}
        observation = self.imaging_observation(code, measurement.span)
        if finding.sites:
            observation["bodySite"] = self.site_concept(finding.sites[0], finding.laterality)
        quantity: Json = {"value": measurement.value, "unit": measurement.unit}
        ucum = terms.ucum(measurement.unit)
        if ucum:
            quantity.update({"system": terms.url("ucum"), "code": ucum})
        observation["valueQuantity"] = quantity
        observation["derivedFrom"] = [self.ref("DocumentReference")]
        observation["device"] = self.ref("Device")
        self.add(observation, "Observation", "finding", str(index), "measurement", str(j))

    def body_structure(self, index: int, finding: Finding) -> None:
        """R5: the guide's finding-site BodyStructure, one includedStructure per site."""
        laterality = _concept(terms.coding(finding.laterality)) if finding.laterality else None
        included = []
        for site in finding.sites:
            item: Json = {"structure": _cc(site.code, site.text)}
            if laterality:
                item["laterality"] = laterality
            included.append(item)
        self.add({"resourceType": "BodyStructure", "includedStructure": included,
                  "description": finding.text, "patient": self.ref("Patient")},
                 "BodyStructure", str(index))

    def conditions(self) -> None:
        for index, diagnosis in enumerate(self.report.diagnoses):
            evidence = self.ref("DiagnosticReport")
            condition: Json = {
                "resourceType": "Condition",
                "extension": [self.derivation(diagnosis.span)],
                "clinicalStatus": _concept(terms.fhir_coding("clinical_active")),
                "verificationStatus": _concept(terms.fhir_coding("verification", diagnosis.status)),
                "code": _cc(diagnosis.code, diagnosis.text),
                "subject": self.ref("Patient"),
                **({"recordedDate": self.issued} if self.issued else {}),
                "evidence": [{"reference": evidence}] if self.r5 else [{"detail": [evidence]}],
            }
            if diagnosis.status != "differential" and cancer.is_primary_cancer(diagnosis.code):
                self.primary_cancer(condition)
            self.add(condition, "Condition", str(index))

    def primary_cancer(self, condition: Json) -> None:
        """Shape a Condition after mCODE's PrimaryCancerCondition (rule in `caseconv.fhir.cancer`).

        US Core's category (problem-list-item), and the coded sites of the lesions the
        cancer explains as bodySite, each with the mCODE laterality qualifier in R4. The
        profile is claimed in R4 only: mCODE is an R4 guide.
        """
        if not self.r5:
            condition["meta"] = {"profile": [cancer.profile_url()]}
        condition["category"] = [_concept(cancer.category())]
        sites = cancer.body_sites(self.report.findings)
        if sites:
            condition["bodySite"] = [self.site_concept(site, laterality) for site, laterality in sites]

    def diagnostic_report(self) -> None:
        report = self.report
        coded = [p.code for p in report.procedures if p.code is not None]
        code = _cc(coded[0], report.procedures[0].text) if len(coded) == 1 else _concept(
            terms.coding("report"))
        main = [d for d in report.diagnoses if d.status != "differential"]
        differential = [d for d in report.diagnoses if d.status == "differential"]
        conclusion = "; ".join(f"{d.text} ({d.status})" for d in main)
        if differential:
            conclusion += ("; " if conclusion else "") + "differential: " + ", ".join(
                d.text for d in differential)
        resource: Json = {"resourceType": "DiagnosticReport", "text": self.narrative(conclusion),
                          "extension": [self.derivation(None)], "status": "final",
                          "category": [_concept(terms.fhir_coding("category_radiology"))],
                          "code": code, "subject": self.ref("Patient")}
        self.issued_field(resource)
        resource["result"] = [self.ref("Observation", "finding", str(i))
                              for i in range(len(report.findings))]
        resource["study" if self.r5 else "imagingStudy"] = [self.ref("ImagingStudy")]
        if report.figures:
            resource["media"] = [{"comment": f.label, "link": self.ref("Figure", str(i))}
                                 for i, f in enumerate(report.figures)]
        if conclusion:
            resource["conclusion"] = conclusion
        if main:
            resource["conclusionCode"] = [_cc(d.code, d.text) for d in main]
        resource["presentedForm"] = [self.attachment(report.case)]
        if not resource["result"]:
            del resource["result"]
        self.add(resource, "DiagnosticReport")

    def narrative(self, conclusion: str) -> Json:
        """The DiagnosticReport's generated narrative: procedures, findings, conclusion."""
        report = self.report
        rows = [f"<p><b>{escape(report.case)}</b>: "
                f"{escape('; '.join(p.text for p in report.procedures) or 'imaging report')}</p>"]
        if report.findings:
            items = "".join(f"<li>{escape(f.text)}{_presence_note(f)}</li>" for f in report.findings)
            rows.append(f"<ul>{items}</ul>")
        if conclusion:
            rows.append(f"<p>Conclusion: {escape(conclusion)}</p>")
        return {"status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{"".join(rows)}</div>'}

    # the bundle --------------------------------------------------------------------------------
    def bundle(self) -> Json:
        self.patient()
        self.device()
        self.document()
        self.imaging_study()
        self.figures()
        for index, finding in enumerate(self.report.findings):
            self.finding(index, finding)
        self.diagnostic_report()
        self.conditions()
        entries = []
        for uid, resource in self.entries:
            entry: Json = {"fullUrl": f"urn:uuid:{uid}", "resource": resource}
            if self.bundle_type == "transaction":
                entry["request"] = {"method": "POST", "url": resource["resourceType"],
                                    "ifNoneExist": _if_none_exist(resource)}
            entries.append(entry)
        bundle: Json = {"resourceType": "Bundle", "id": self.uuid("Bundle", self.bundle_type),
                        "identifier": {"system": terms.url("uri"), "value":
                                       f"urn:uuid:{self.uuid('identifier', 'Bundle', self.bundle_type)}"},
                        "type": self.bundle_type}
        if self.issued:
            bundle["timestamp"] = self.issued
        bundle["entry"] = entries
        return bundle


def series_uid(report: CaseReport, index: int) -> str:
    """The Series Instance UID of figure ``index``: ``dicom_uid(report, "series", label)``.

    Captions may share a label (two "Fig 1"): the n-th repeat (n >= 1) adds ``str(n)`` to
    the role so that every series keeps its own UID. The SR writer must use the same rule.
    """
    label = report.figures[index].label
    repeat = sum(f.label == label for f in report.figures[:index])
    return ids.dicom_uid(report, "series", label, *([str(repeat)] if repeat else []))


def _if_none_exist(resource: Json) -> str:
    """Conditional create on the resource's first identifier (ImagingStudy: its UID)."""
    identifiers = resource["identifier"]
    chosen = identifiers[1] if resource["resourceType"] == "ImagingStudy" else identifiers[0]
    return f"identifier={chosen['system']}|{chosen['value']}"


def _unique(concepts: list[Json]) -> list[Json]:
    """Equal concepts once, in order (three procedures of one sentence share a text)."""
    seen: dict[str, Json] = {}
    for concept in concepts:
        seen.setdefault(json.dumps(concept, sort_keys=True), concept)
    return list(seen.values())


def _presence_note(finding: Finding) -> str:
    return "" if finding.presence == "present" else f" ({finding.presence})"


def _presence(finding: Finding) -> Json:
    name = {"present": "present", "absent": "absent", "uncertain": "undetermined"}[finding.presence]
    return _concept(terms.coding(name))


def _series_description(figure: Any) -> str:
    parts = [figure.label]
    if figure.sequences:
        parts.append(", ".join(figure.sequences))
    if figure.planes:
        parts.append(", ".join(figure.planes))
    if figure.contrast:
        parts.append(f"contrast: {figure.contrast}")
    return "; ".join(parts)[:1024]


def model_class(version: str, name: str) -> Any:
    """The fhir.resources model class of a resource type for R4 (R4B models) or R5."""
    if version == "R5":
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    return get_fhir_model_class(name)


def _printable(char: str) -> bool:
    return char in " \t\r\n" or not (ord(char) < 32 or char.isspace() or char == "\ufeff")


#: What FHIR strings may not hold, each made a space (one for one, so offsets hold).
_TRANSLATION = str.maketrans({c: " " for c in [*map(chr, range(0x3001)), "\ufeff"] if not _printable(c)})


def clean_strings(node: Any) -> Any:
    """Every string with control characters and unusual spaces made plain spaces.

    FHIR's string pattern allows space, tab, CR, LF and non-space characters only; PDF text
    brings U+001F, NBSP, U+2028 or a BOM, which that pattern refuses where its space class
    is Unicode-wide (Python, JavaScript), and XHTML refuses control characters in the
    narrative. Spans point into the DocumentReference's base64 copy of the text, which
    keeps every character, so offsets stay right.
    """
    if isinstance(node, str):
        return node.translate(_TRANSLATION)
    if isinstance(node, dict):
        return {key: clean_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [clean_strings(value) for value in node]
    return node


def build(report: CaseReport, version: str, bundle_type: str, issued: datetime | None) -> Json:
    """Build the bundle as a dict, then run it through the fhir.resources Bundle model."""
    raw = clean_strings(_Writer(report, version, bundle_type, issued).bundle())
    model = model_class(version, "Bundle").model_validate(raw)
    return json.loads(model.model_dump_json())
