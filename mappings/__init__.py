"""Mapping tables shipped with caseconv (data only: see README.md here)."""
