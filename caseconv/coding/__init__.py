"""Stage 2: terms -> codes, from the mapping tables in ``mappings/``."""

from caseconv.coding.coder import Strictness, UnmappedError, code_report
from caseconv.coding.tables import Concept, TableError, Tables, load_tables

__all__ = ["Concept", "Strictness", "TableError", "Tables", "UnmappedError", "code_report", "load_tables"]
