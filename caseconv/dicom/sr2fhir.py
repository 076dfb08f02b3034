"""TID 1500 SR (caseconv's or any other tool's) -> FHIR Observations as plain dicts.

Follows the HL7 "DICOM SR to FHIR Resource Mapping" guide (HL7/dicom-sr, FHIR R5):
each measurement group (TID 1501/1410/1411) becomes an `imaging-measurement-group`
Observation whose `hasMember` are one `imaging-measurement` Observation per NUM (TID 300)
and one `imaging-qualitative-evaluation` per CODE or TEXT evaluation; the report-level
"Qualitative Evaluations" container gives more qualitative evaluations. All of them are
`partOf` the study (by Study Instance UID) and name the patient by Patient ID, as
logical references: the FHIR writers (`caseconv.fhir`) own real resources.

Reads with pydicom alone, not highdicom, so that documents highdicom refuses (older
DCMTK ones, Basic Text SR) are still read. What cannot be mapped (image regions,
coordinates, empty measurements, unknown coding schemes, non-TID 1500 documents) is
listed in `Conversion.unmapped`, one line per item with its content-tree position;
nothing is dropped silently and nothing raises on an odd tree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom import Dataset

from caseconv import ids
from caseconv.model import SYSTEM_URIS

GUIDE = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
ID_TYPES = "http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type"
#: DICOM scheme designators beyond caseconv's own (SRT: SNOMED RT ids, as in the guide's examples).
SYSTEMS = {**SYSTEM_URIS, "SRT": "http://terminology.hl7.org/CodeSystem/snm"}
#: Observation ids are uuid5 over the SR's SOP Instance UID and the item's position.
NAMESPACE = uuid.uuid5(ids.NAMESPACE, "sr2fhir")

# Concept names the converter recognises, as (scheme, value).
REPORT = ("DCM", "126000")
IMAGING_MEASUREMENTS = ("DCM", "126010")
DERIVED_MEASUREMENTS = ("DCM", "126011")
GROUP = ("DCM", "125007")
EVALUATIONS = ("UMLS", "C0034375")
TRACKING_ID = ("DCM", "112039")
TRACKING_UID = ("DCM", "112040")
FINDING = ("DCM", "121071")
FINDING_CATEGORY = ("SCT", "276214006")
FINDING_SITE = ("SCT", "363698007")
LATERALITY = ("SCT", "272741003")
METHOD = ("SCT", "370129005")
PROCEDURE = ("DCM", "121058")
MEASUREMENT_GROUP = {"system": SYSTEM_URIS["DCM"], "code": "125007", "display": "Measurement Group"}
#: Items of a report root that are context, already in every Observation, or headers.
ROOT_CONTEXT = {("DCM", "121049"), ("DCM", "121005"), ("DCM", "121012"), ("DCM", "121013"),
                ("DCM", "121014"), ("DCM", "121015"), ("DCM", "121016"), ("DCM", "121008"),
                ("DCM", "121009"), ("DCM", "121010"), ("DCM", "121011"), PROCEDURE}


@dataclass
class Conversion:
    """The Observations of one SR and every item that could not be mapped."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    #: R5 BodyStructure (guide profile dicom-sr-finding-site) per finding site with laterality.
    body_structures: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def by_profile(self, profile: str) -> list[dict[str, Any]]:
        return [o for o in self.observations if o["meta"]["profile"] == [GUIDE + profile]]


def _name(item: Dataset) -> tuple[str, str] | None:
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return None
    return str(seq[0].get("CodingSchemeDesignator", "")), str(_code_value(seq[0]))


def _code_value(code: Dataset) -> str:
    for keyword in ("CodeValue", "LongCodeValue", "URNCodeValue"):
        if code.get(keyword):
            return str(code.get(keyword))
    return ""


def _label(item: Dataset) -> str:
    seq = item.get("ConceptNameCodeSequence")
    meaning = seq[0].get("CodeMeaning", "") if seq else "(no concept name)"
    return f'{item.get("ValueType", "?")} "{meaning}"'


class _Converter:
    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.result = Conversion()
        self.sop_uid = str(ds.get("SOPInstanceUID", ""))
        verified = ds.get("VerificationFlag") == "VERIFIED"
        self.status = "final" if verified and ds.get("CompletionFlag") == "COMPLETE" else "preliminary"
        self.issued = _issued(ds)

    # --- FHIR pieces -----------------------------------------------------------------------
    def skip(self, path: str, item: Dataset, reason: str) -> None:
        self.result.unmapped.append(f"{path} {_label(item)}: {reason}")

    def coding(self, code: Dataset, path: str) -> dict[str, str]:
        scheme = str(code.get("CodingSchemeDesignator", ""))
        result = {"code": _code_value(code), "display": str(code.get("CodeMeaning", ""))}
        system = SYSTEMS.get(scheme)
        if system:
            result = {"system": system, **result}
        else:
            self.result.unmapped.append(f"{path}: coding scheme {scheme!r} has no known FHIR system; "
                                        f"code {result['code']} kept without one")
        return result

    def concept(self, seq: Any, path: str) -> dict[str, Any]:
        return {"coding": [self.coding(seq[0], path)]}

    def base(self, profile: str, path: str, item: Dataset) -> dict[str, Any]:
        ident = uuid.uuid5(NAMESPACE, f"{self.sop_uid}/{path}")
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": str(ident),
            "meta": {"profile": [GUIDE + profile]},
            "status": self.status,
            "subject": {"identifier": {"value": str(self.ds.get("PatientID", ""))}},
            "partOf": [{"identifier": {
                "type": {"coding": [{"system": SYSTEM_URIS["DCM"], "code": "110180",
                                     "display": "Study Instance UID"}]},
                "system": "urn:dicom:uid",
                "value": f"urn:oid:{self.ds.get('StudyInstanceUID', '')}"}}],
        }
        if item.get("ObservationUID"):
            observation["identifier"] = [{
                "type": {"coding": [{"system": ID_TYPES, "code": "observation-uid",
                                     "display": "Observation UID"}]},
                "system": "urn:dicom:uid", "value": f"urn:oid:{item.ObservationUID}"}]
        issued = _issued(item) or self.issued
        if issued:
            observation["issued"] = issued
        return observation

    # --- the tree ---------------------------------------------------------------------------
    def convert(self) -> Conversion:
        root_name = _name(self.ds)
        templates = [t.get("TemplateIdentifier") for t in self.ds.get("ContentTemplateSequence", [])]
        if root_name != REPORT and "1500" not in templates:
            self.skip("1", self.ds, "not a TID 1500 Imaging Measurement Report; nothing mapped")
            return self.result
        for index, item in enumerate(self.ds.get("ContentSequence", []), 1):
            path, name = f"1.{index}", _name(item)
            if name in ROOT_CONTEXT:
                continue
            if name == IMAGING_MEASUREMENTS:
                for number, group in enumerate(item.get("ContentSequence", []), 1):
                    self.group(f"{path}.{number}", group)
            elif name == EVALUATIONS:
                for number, evaluation in enumerate(item.get("ContentSequence", []), 1):
                    self.evaluation(f"{path}.{number}", evaluation, {})
            elif name == DERIVED_MEASUREMENTS:
                self.skip(path, item, "derived imaging measurements are not mapped")
            else:
                self.skip(path, item, "not mapped (image library, other context)")
        return self.result

    def group(self, path: str, group: Dataset) -> None:
        if _name(group) != GROUP:
            self.skip(path, group, "not a measurement group")
            return
        observation = self.base("imaging-measurement-group", path, group)
        # code: the finding category, else "Measurement Group" (then no category: the guide's
        # invariant measurement-group-category)
        observation["code"] = {"coding": [MEASUREMENT_GROUP]}
        shared: dict[str, Any] = {}
        members: list[tuple[str, Dataset]] = []
        sites: list[tuple[str, Dataset]] = []
        tracking: dict[str, str] = {}
        for index, item in enumerate(group.get("ContentSequence", []), 1):
            child, name = f"{path}.{index}", _name(item)
            value_type = item.get("ValueType")
            if name == TRACKING_ID and value_type == "TEXT":
                tracking["display"] = str(item.TextValue)
            elif name == TRACKING_UID and value_type == "UIDREF":
                tracking["uid"] = str(item.UID)
            elif name == FINDING and value_type == "CODE":
                observation["valueCodeableConcept"] = self.concept(item.ConceptCodeSequence, child)
            elif name == FINDING and value_type == "TEXT":
                observation["valueCodeableConcept"] = {"text": str(item.TextValue)}
            elif name == FINDING_CATEGORY and value_type == "CODE":
                observation["code"] = self.concept(item.ConceptCodeSequence, child)
                observation["category"] = [{"coding": [MEASUREMENT_GROUP]}]
            elif name == FINDING_SITE:
                sites.append((child, item))
            elif name == METHOD and value_type == "CODE":
                observation["method"] = self.concept(item.ConceptCodeSequence, child)
            elif value_type in ("NUM", "CODE", "TEXT"):
                members.append((child, item))
            else:
                self.skip(child, item, "not mapped (image reference, region or other context)")
        if sites:
            shared.update(self.sites(sites))
        if tracking:
            focus: dict[str, Any] = {}
            if "uid" in tracking:
                focus["identifier"] = {"system": "urn:dicom:uid", "value": f"urn:oid:{tracking['uid']}"}
            if "display" in tracking:
                focus["display"] = tracking["display"]
            shared["focus"] = [focus]
        observation.update(shared)
        self.result.observations.append(observation)
        refs = []
        for child, item in members:
            member = (self.measurement(child, item, shared) if item.ValueType == "NUM"
                      else self.evaluation(child, item, shared))
            if member is not None:
                refs.append({"reference": f"Observation/{member['id']}"})
        if refs:
            observation["hasMember"] = refs

    def structure(self, path: str, item: Dataset) -> dict[str, Any]:
        """One BodyStructure.includedStructure: the site and its laterality modifier."""
        if item.get("ValueType") == "CODE":
            site = self.concept(item.ConceptCodeSequence, path)
            site["text"] = site["coding"][0]["display"]
        else:
            site = {"text": str(item.get("TextValue", ""))}
        structure: dict[str, Any] = {"structure": site}
        for index, modifier in enumerate(item.get("ContentSequence", []), 1):
            if _name(modifier) == LATERALITY and modifier.get("ValueType") == "CODE":
                structure["laterality"] = self.concept(modifier.ConceptCodeSequence, f"{path}.{index}")
            else:
                self.skip(f"{path}.{index}", modifier, "finding site modifier not mapped")
        return structure

    def sites(self, items: list[tuple[str, Dataset]]) -> dict[str, Any]:
        """Observation.bodySite (the first site alone) and a BodyStructure of every site.

        Observation.bodySite is 0..1, so further sites go in the BodyStructure (R5), one
        includedStructure each; so does laterality, which is not a second coding of the
        site (codings of one CodeableConcept must mean the same). The BodyStructure is
        made when there is more than one site or a laterality.
        """
        structures = [self.structure(path, item) for path, item in items]
        fields: dict[str, Any] = {"bodySite": structures[0]["structure"]}
        if len(structures) > 1 or any("laterality" in s for s in structures):
            body = {
                "resourceType": "BodyStructure",
                "id": str(uuid.uuid5(NAMESPACE, f"{self.sop_uid}/{items[0][0]}")),
                "meta": {"profile": [GUIDE + "dicom-sr-finding-site"]},
                "includedStructure": structures,
                "patient": {"identifier": {"value": str(self.ds.get("PatientID", ""))}},
            }
            self.result.body_structures.append(body)
            fields["bodyStructure"] = {"reference": f"BodyStructure/{body['id']}"}
        return fields

    def measurement(self, path: str, item: Dataset, shared: dict[str, Any]) -> dict[str, Any] | None:
        values = item.get("MeasuredValueSequence")
        if not values or values[0].get("NumericValue") in (None, ""):
            self.skip(path, item, "NUM without a value")
            return None
        observation = self.base("imaging-measurement", path, item)
        observation["code"] = self.concept(item.ConceptNameCodeSequence, path)
        value = values[0]
        unit = value.MeasurementUnitsCodeSequence[0]
        quantity: dict[str, Any] = {"value": float(value.NumericValue),
                                    "unit": str(unit.get("CodeMeaning", ""))}
        if unit.get("CodingSchemeDesignator") == "UCUM":
            quantity.update(system=SYSTEM_URIS["UCUM"], code=_code_value(unit))
        observation["valueQuantity"] = quantity
        observation.update(shared)
        sites: list[tuple[str, Dataset]] = []
        for index, child in enumerate(item.get("ContentSequence", []), 1):
            name = _name(child)
            if name == FINDING_SITE:
                sites.append((f"{path}.{index}", child))
            elif name == METHOD and child.get("ValueType") == "CODE":
                observation["method"] = self.concept(child.ConceptCodeSequence, f"{path}.{index}")
            else:
                self.skip(f"{path}.{index}", child, "measurement modifier or reference not mapped")
        if sites:
            observation.update(self.sites(sites))
        self.result.observations.append(observation)
        return observation

    def evaluation(self, path: str, item: Dataset, shared: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("ValueType") not in ("CODE", "TEXT") or _name(item) is None:
            self.skip(path, item, "qualitative evaluation must be CODE or TEXT")
            return None
        observation = self.base("imaging-qualitative-evaluation", path, item)
        observation["category"] = [{"coding": [{"system": SYSTEM_URIS["UMLS"], "code": "C0034375",
                                                "display": "Qualitative Evaluations"}]}]
        observation["code"] = self.concept(item.ConceptNameCodeSequence, path)
        if item.ValueType == "CODE":
            observation["valueCodeableConcept"] = self.concept(item.ConceptCodeSequence, path)
        else:
            observation["valueCodeableConcept"] = {"text": str(item.TextValue)}
        observation.update(shared)
        for index, child in enumerate(item.get("ContentSequence", []), 1):
            self.skip(f"{path}.{index}", child, "qualitative evaluation modifier not mapped")
        self.result.observations.append(observation)
        return observation


def _issued(item: Dataset) -> str | None:
    """FHIR instant from ObservationDateTime, else ContentDate/Time (no zone: UTC assumed)."""
    stamp = str(item.get("ObservationDateTime", "") or "")
    if not stamp and item.get("ContentDate"):
        stamp = f"{item.ContentDate}{item.get('ContentTime', '000000')}"
    digits = stamp.split("+")[0].split("-")[0].split(".")[0]
    if len(digits) < 8 or not digits.isdigit():
        return None
    d = digits.ljust(14, "0")
    return f"{d[0:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}Z"


def sr_to_observations(source: Dataset | Path | str) -> Conversion:
    """The FHIR Observations of a TID 1500 SR (dataset or path) and what was not mapped."""
    ds = source if isinstance(source, Dataset) else pydicom.dcmread(source)
    return _Converter(ds).convert()
