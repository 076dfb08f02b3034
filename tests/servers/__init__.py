"""Servers the delivery tests start on 127.0.0.1 (Orthanc, Medplum wrapper, MLLP listener, stubs)."""
