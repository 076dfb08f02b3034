"""``caseconv send``: deliver written outputs to hospital systems (a thin layer over
`caseconv.deliver`).

FHIR bundles (``*.fhir.json``) go to a FHIR server as transactions, SRs (``*.dcm``) to a
PACS by C-STORE or to a DICOMweb server by STOW-RS, HL7 v2 messages (``*.hl7``) to an
MLLP listener. Bearer tokens come from the environment (``CASECONV_FHIR_TOKEN``,
``CASECONV_DICOMWEB_TOKEN``), never from the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

SUFFIXES = {"fhir": (".json",), "dicom": (".dcm",), "hl7": (".hl7",)}


def _host_port(value: str | None, option: str) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint=option)
    return host, int(port)


def _files(paths: tuple[str, ...]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".json", ".dcm", ".hl7"})
        else:
            yield path


def parse_targets(values: tuple[str, ...]) -> dict[str, Any]:
    """``convert --send fhir=URL --send pacs=HOST:PORT ...`` as arguments of `deliver` ({} for none)."""
    if not values:
        return {}
    targets: dict[str, Any] = {"fhir": None, "pacs": None, "dicomweb": None, "mllp": None,
                               "calling_aet": "CASECONV", "called_aet": "ANY-SCP", "insecure": False, "retries": 3}
    for value in values:
        kind, _, target = value.partition("=")
        if kind not in {"fhir", "pacs", "dicomweb", "mllp", "calling-aet", "called-aet"} or not target:
            raise click.BadParameter(f"{value!r} is not KIND=TARGET (fhir, pacs, dicomweb, mllp, calling-aet, "
                                     "called-aet)", param_hint="--send")
        targets[kind.replace("-", "_")] = _host_port(target, "--send") if kind in {"pacs", "mllp"} else target
    return targets


def deliver(files: list[Path], *, fhir: str | None, pacs: tuple[str, int] | None, calling_aet: str,
            called_aet: str, dicomweb: str | None, mllp: tuple[str, int] | None, insecure: bool,
            retries: int) -> list[str]:
    """Send each file to the targets its kind goes to; returns the failures, one line each."""
    from caseconv.deliver import DeliveryError, send_dicomweb, send_fhir, send_mllp, send_pacs

    failures: list[str] = []
    bundles = [p for p in files if p.suffix == ".json"]
    srs = [p for p in files if p.suffix == ".dcm"]
    messages = [p for p in files if p.suffix == ".hl7"]

    def report(target: str, run) -> None:  # noqa: ANN001 - a sender call
        try:
            result = run()
        except DeliveryError as error:
            failures.append(f"{target}: {error}")
            return
        click.echo(result.summary())
        failures.extend(f"{target}: {item.item}: {item.detail or item.status}" for item in result.failures)

    if fhir:
        for path in bundles:
            try:
                bundle = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                failures.append(f"{path}: not a FHIR bundle: {error}")
                continue
            report(str(path), lambda b=bundle: send_fhir(b, fhir, verify=not insecure, retries=retries))
    if pacs and srs:
        host, port = pacs
        report(f"{host}:{port}", lambda: send_pacs(srs, host, port, calling_aet=calling_aet,
                                                   called_aet=called_aet, retries=retries))
    if dicomweb and srs:
        report(dicomweb, lambda: send_dicomweb(srs, dicomweb, verify=not insecure, retries=retries))
    if mllp and messages:
        host, port = mllp
        texts = [p.read_bytes().decode("utf-8") for p in messages]  # HL7 segments end in CR: no newline translation
        report(f"{host}:{port}", lambda: send_mllp(texts, host, port, retries=retries))
    return failures


@click.command()
@click.argument("outputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--fhir", metavar="URL", help="FHIR server base URL: each bundle is POSTed as a transaction "
              "(token from CASECONV_FHIR_TOKEN).")
@click.option("--pacs", metavar="HOST:PORT", help="C-STORE the SRs to this DICOM node.")
@click.option("--calling-aet", default="CASECONV", show_default=True)
@click.option("--called-aet", default="ANY-SCP", show_default=True)
@click.option("--dicomweb", metavar="URL", help="STOW-RS the SRs (token from CASECONV_DICOMWEB_TOKEN).")
@click.option("--mllp", metavar="HOST:PORT", help="Send the HL7 v2 messages (*.hl7) over MLLP; ACKs are checked.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (testing only).")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(1, 10))
def send(outputs: tuple[str, ...], fhir: str | None, pacs: str | None, calling_aet: str, called_aet: str,
         dicomweb: str | None, mllp: str | None, insecure: bool, retries: int) -> None:
    """Deliver OUTPUTS (files or folders written by convert) to hospital systems.

    Exit 1 if anything was not accepted; nothing local is ever deleted.
    """
    if not any((fhir, pacs, dicomweb, mllp)):
        raise click.UsageError("name at least one target: --fhir, --pacs, --dicomweb or --mllp")
    failures = deliver(list(_files(outputs)), fhir=fhir, pacs=_host_port(pacs, "--pacs"), calling_aet=calling_aet,
                       called_aet=called_aet, dicomweb=dicomweb, mllp=_host_port(mllp, "--mllp"),
                       insecure=insecure, retries=retries)
    for line in failures:
        click.echo(f"caseconv: error: {line}", err=True)
    if failures:
        sys.exit(1)
