"""caseconv: free-text radiology case reports to coded FHIR bundles and DICOM SR."""

__version__ = "0.1.0"
