"""Shared fixtures and node helpers of the FHIR tests."""
