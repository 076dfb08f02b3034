"""caseconv: free-text radiology case reports to coded FHIR bundles and DICOM SR.

Public API (heavy libraries load on first call, so importing caseconv is cheap)::

    import caseconv
    report = caseconv.extract(text, "case1")          # CaseReport, coded
    result = caseconv.convert(text, "case1")          # .report, .bundle (dict), .sr (pydicom Dataset)
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "convert", "extract"]


def __getattr__(name: str) -> Any:
    if name in {"extract", "convert"}:
        from caseconv import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'caseconv' has no attribute {name!r}")
