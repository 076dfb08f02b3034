"""The ``caseconv`` command: a thin click layer over the library.

Exit codes: 0 everything converted; 1 some inputs failed (the others are still written)
or a check found problems; 2 usage error (bad option or argument); 130 interrupted (Ctrl-C).
Nothing heavy is imported at module level, so ``--help`` and ``--version`` stay fast
(the tests check that medspaCy, highdicom and fhir.resources are not loaded).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from caseconv import __version__

EXIT_CODES = ("Exit codes: 0 all converted; 1 some inputs failed or were skipped (the rest still written) "
              "or a check found problems; 2 usage error; 130 interrupted by Ctrl-C (outputs written are complete).")
#: Default of --max-bytes (caseconv.pipeline.MAX_BYTES, repeated so that --help imports nothing).
MAX_BYTES = 5_000_000


def _error(message: str) -> None:
    click.echo(f"caseconv: error: {message}", err=True)


def _warn(path: Path | str, message: str) -> None:
    click.echo(f"caseconv: warning: {path}: {message}", err=True)


class _ClickHandler(logging.Handler):
    """Log records as ``caseconv: warning: ...`` lines on the current stderr (CliRunner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"caseconv: {record.levelname.lower()}: {record.getMessage()}", err=True)


def _logging(verbose: bool) -> None:
    """Warnings by default (they never quote the case text); ``--verbose`` adds details."""
    logger = logging.getLogger("caseconv")
    if not any(isinstance(h, _ClickHandler) for h in logger.handlers):
        logger.addHandler(_ClickHandler())
        logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="caseconv")
def main() -> None:
    """Convert free-text radiology case reports to coded FHIR bundles and DICOM SR."""


mappings_option = click.option("--mappings", "mappings", multiple=True, type=click.Path(exists=True, file_okay=False),
                               help="A folder of site tables added over the shipped ones (a site's row wins).")


def _text_summary(report: object) -> str:
    from caseconv.model import CaseReport

    assert isinstance(report, CaseReport)
    lines = [f"case: {report.case}"]
    patient = report.patient
    age = f"{patient.age.value} {patient.age.unit}" if patient.age else "?"
    lines.append(f"patient: age {age}, sex {patient.sex or '?'}")
    for p in report.procedures:
        region = p.region.text if p.region else "?"
        lines.append(f"procedure: {p.modality} {region} (contrast: {p.contrast or 'not stated'})")
    for h in report.history:
        duration = f", {h.duration.value} {h.duration.unit}" if h.duration else ""
        lines.append(f"history: {h.text}{duration}")
    for f in report.findings:
        code = f" [{f.code.scheme} {f.code.value}]" if f.code else ""
        sites = ", ".join(s.text for s in f.sites)
        sizes = " x ".join(f"{m.value:g} {m.unit}" for m in f.measurements)
        details = "; ".join(x for x in (f.laterality, sites, " ".join(f.levels), sizes) if x)
        lines.append(f"finding ({f.presence}, {f.source}): {f.text}{code}" + (f" -- {details}" if details else ""))
    for d in report.diagnoses:
        code = f" [{d.code.scheme} {d.code.value}]" if d.code else ""
        lines.append(f"diagnosis ({d.status}): {d.text}{code}")
    for fig in report.figures:
        lines.append(f"figure {fig.label}: {', '.join(fig.sequences) or '-'}; {', '.join(fig.planes) or '-'}")
    return "\n".join(lines)


@main.command()
@click.argument("cases", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option("--unmapped", is_flag=True, help="Print only the terms no table codes.")
@mappings_option
def extract(cases: tuple[str, ...], fmt: str, unmapped: bool, mappings: tuple[str, ...]) -> None:
    """Print what caseconv understands of each CASE (a text file; '-' reads standard input)."""
    from caseconv.pipeline import CaseError, check_text, read_case, safe_stem
    from caseconv.pipeline import extract as run

    failed = 0
    for name in cases:
        try:
            if name == "-":
                text, warnings = check_text(sys.stdin.buffer.read(MAX_BYTES + 1), "-")
                stem = "stdin"
            else:
                path = Path(name)
                text, warnings = read_case(path)
                stem = safe_stem(path)
            for warning in warnings:
                _warn(Path(name), warning)
            report = run(text, stem, mappings=mappings)
        except CaseError as error:
            _error(str(error))
            failed += 1
            continue
        if unmapped:
            for item in report.unmapped:
                click.echo(f"{report.case}\t{item.kind}\t{item.text}")
        elif fmt == "json":
            click.echo(json.dumps(report.to_dict(include_text=False), ensure_ascii=False, indent=2))
        else:
            click.echo(_text_summary(report))
    if failed:
        sys.exit(1)


class _Display:
    """Per-case lines, warnings and a progress bar (on a terminal only) for `convert`."""

    def __init__(self, total: int, *, ndjson: bool, quiet: bool, verbose: bool, progress: bool | None) -> None:
        self.ndjson, self.quiet, self.verbose = ndjson, quiet, verbose
        if progress is None:
            progress = sys.stderr.isatty() and not os.environ.get("CI") and total > 1
        self.bar: Any = None
        self.task: Any = None
        self.pipe_closed = False
        if progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("converting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("convert", total=total)
            self.bar.start()

    def _err(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line, err=True)

    def _out(self, line: str) -> None:
        if self.pipe_closed:
            return
        try:
            if self.bar is not None and sys.stdout.isatty():
                self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                click.echo(line)
        except BrokenPipeError:  # `| head`: stop converting, say so in the summary
            self.pipe_closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())

    def outcome(self, outcome: Any) -> None:
        """Show one case as it completes (in input order)."""
        for warning in outcome.warnings:
            self._err(f"caseconv: warning: {outcome.source}: {warning}")
        if not outcome.ok and not outcome.skipped:
            self._err(f"caseconv: error: {outcome.error}")
            if outcome.detail:
                self._err(outcome.detail.rstrip())
        if self.ndjson and outcome.line is not None:
            self._out(outcome.line)
        elif outcome.ok and not self.quiet:
            self._out(f"{outcome.source}: {outcome.findings} findings -> " + ", ".join(outcome.written))
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


CONVERT_HELP = f"""Write a FHIR bundle and a DICOM SR for each CASE.

CASES are files, folders (searched recursively for --glob) or '-' (standard input,
written as 'stdin'). With -o, OUTDIR/<stem>.fhir.json and OUTDIR/<stem>.sr.dcm are
written whole or not at all, never over an existing file without --overwrite. With
--format ndjson, one JSON object per case goes to standard output, in input order:
{{"source", "case", "ok", "warnings", "report", "bundle", "sr" (base64 DICOM)}}, or
{{"source", "case", "ok": false, "error"}}; with -o as well, "outputs" lists the files
instead of "bundle" and "sr". A summary goes to standard error (and to --summary-json).

\b
{EXIT_CODES}
"""


@main.command(help=CONVERT_HELP)
@click.argument("cases", nargs=-1, required=True)
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False),
              help="Folder for <stem>.fhir.json and <stem>.sr.dcm (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["files", "ndjson"]), default="files", show_default=True,
              help="files: write to -o; ndjson: one JSON line per case on standard output.")
@click.option("--outputs", type=click.Choice(["fhir,sr", "fhir", "sr"]), default="fhir,sr", show_default=True,
              help="Which outputs to build.")
@click.option("--fhir-version", type=click.Choice(["R4", "R5"]), default="R4", show_default=True)
@click.option("--bundle-type", type=click.Choice(["collection", "transaction"]), default="collection",
              show_default=True)
@click.option("--sr-template", type=click.Choice(["1500", "2000"]), default="1500", show_default=True,
              help="1500: Imaging Measurement Report (Comprehensive 3D SR); 2000: Basic Diagnostic Imaging Report.")
@click.option("--glob", "pattern", default="*.txt", show_default=True, help="Files to take from folders.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--images", type=click.Path(exists=True, file_okay=False),
              help="A folder of the study's DICOM images: patient and study taken from them, figures matched "
                   "to their series and referenced from the SR.")
@click.option("--hl7v2", "hl7_dir", type=click.Path(file_okay=False),
              help="Also write an HL7 v2.5.1 ORU^R01 message per case (<stem>.hl7) into this folder.")
@click.option("--send", "send_to", multiple=True, metavar="KIND=TARGET",
              help="After converting, deliver the outputs: fhir=URL, pacs=HOST:PORT, dicomweb=URL or "
                   "mllp=HOST:PORT (repeatable; see `caseconv send`).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: one per core, one per 16 cases at most].")
@click.option("--max-bytes", type=click.IntRange(min=1), default=MAX_BYTES, show_default=True,
              help="Refuse case files larger than this.")
@click.option("--summary-json", type=click.Path(dir_okay=False), help="Also write the summary as JSON.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on standard error [default: on a terminal, never with CI set].")
@click.option("-q", "--quiet", is_flag=True, help="No line per converted case (errors, warnings, summary only).")
@click.option("-v", "--verbose", is_flag=True,
              help="Details of errors (messages, tracebacks) and unmapped terms by name; may show case text.")
@mappings_option
def convert(cases: tuple[str, ...], outdir: str | None, fmt: str, outputs: str, fhir_version: str,
            bundle_type: str, sr_template: str, pattern: str, overwrite: bool, images: str | None,
            hl7_dir: str | None, send_to: tuple[str, ...], jobs: int | None, max_bytes: int,
            summary_json: str | None, progress: bool | None, quiet: bool, verbose: bool,
            mappings: tuple[str, ...]) -> None:
    from caseconv import batch
    from caseconv.cli_send import parse_targets

    _logging(verbose)
    targets = parse_targets(send_to)
    if fmt == "files" and outdir is None:
        raise click.UsageError("give -o OUTDIR, or --format ndjson to write to standard output")
    target = Path(outdir) if outdir is not None else None
    try:
        sources = batch.collect_sources(cases, pattern, max_bytes=max_bytes)
    except batch.UsageError as error:
        raise click.UsageError(str(error)) from None
    for folder in (target, Path(hl7_dir) if hl7_dir else None):
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise click.ClickException(f"{folder}: cannot create the output folder: {error.strerror}") from None
    kinds = tuple(outputs.split(",")) + (("hl7",) if hl7_dir else ())
    if images:
        from caseconv.pipeline import CaseError, study_images

        try:
            study_images(images)
        except (CaseError, ValueError) as error:
            raise click.BadParameter(str(error), param_hint="--images") from None
    settings = batch.Settings(outdir=target, ndjson=fmt == "ndjson", outputs=kinds,
                              fhir_version=fhir_version, bundle_type=bundle_type, sr_template=sr_template,
                              mappings=mappings, overwrite=overwrite, max_bytes=max_bytes, verbose=verbose,
                              images=images, hl7_dir=Path(hl7_dir) if hl7_dir else None)
    display = _Display(len(sources), ndjson=settings.ndjson, quiet=quiet, verbose=verbose, progress=progress)
    try:
        with batch.interrupt_flag() as interrupted:
            written: list[Path] = []

            def outcome(result: Any) -> None:
                written.extend(Path(p) for p in result.written)
                display.outcome(result)

            summary = batch.run(sources, settings, jobs=jobs, on_outcome=outcome,
                                stop=lambda: interrupted() or display.pipe_closed)
    finally:
        display.close()
    summary.interrupted = interrupted()
    if display.pipe_closed:
        summary.stopped = summary.stopped or "standard output was closed"
    for line in summary.lines(verbose=verbose):
        click.echo(f"caseconv: {line}", err=True)
    if summary_json:
        try:
            batch.write_summary(summary, Path(summary_json))
        except ValueError as error:
            _error(str(error))
            sys.exit(1)
    if targets and written:
        from caseconv.cli_send import deliver

        failures = deliver(written, **targets)
        for line in failures:
            _error(line)
        if failures:
            sys.exit(1)
    sys.exit(summary.exit_code)


@main.command(name="eval")
@click.argument("gold_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the scores as JSON.")
@mappings_option
def evaluate(gold_dir: str, json_out: str | None, mappings: tuple[str, ...]) -> None:
    """Score extraction against GOLD_DIR's <case>.txt / <case>.gold.yaml pairs."""
    from caseconv.eval import Tally, gold_cases, load_gold, score
    from caseconv.pipeline import extract as run
    from caseconv.pipeline import read_case

    pairs = gold_cases(Path(gold_dir))
    if not pairs:
        raise click.ClickException(f"{gold_dir}: no <case>.txt with <case>.gold.yaml")
    columns = ["finding_precision", "finding_recall", "finding_f1", "site", "laterality", "level",
               "measurement", "presence", "attributes", "diagnosis_f1", "leaks", "coding_rate"]
    short = ["P", "R", "F1", "site", "lat", "level", "meas", "pres", "attr", "dx F1", "leaks", "coded"]
    total = Tally()
    results: dict[str, dict[str, float]] = {}
    for text_path, gold_path in pairs:
        text, _ = read_case(text_path)
        report = run(text, text_path.stem, mappings=mappings)
        tally = score(report.to_dict(include_text=False), load_gold(gold_path))
        total.add(tally)
        results[text_path.stem] = tally.summary()
        for leak in tally.leaked:
            click.echo(f"leak: {text_path.stem}: {leak}", err=True)
    results["overall"] = total.summary()
    width = max(len(name) for name in results) + 2
    click.echo("case".ljust(width) + "".join(s.rjust(7) for s in short))
    for name, summary in results.items():
        click.echo(name.ljust(width) + "".join(
            (f"{summary[c]:.0f}" if c == "leaks" else f"{summary[c]:.2f}").rjust(7) for c in columns))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--fhir-version", type=click.Choice(["R4", "R5"]), default=None,
              help="Version of .fhir.json files (default: R5 when the bundle says so, else R4).")
def validate(files: tuple[str, ...], fhir_version: str | None) -> None:
    """Check written outputs: .fhir.json bundles and .dcm SRs, one line per problem."""
    problems = 0
    for name in files:
        path = Path(name)
        if path.suffix == ".json":
            from caseconv.fhir.validate import validate_bundle

            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                _error(f"{path}: not a JSON file: {error}")
                problems += 1
                continue
            from caseconv.fhir.validate import guess_version

            version = fhir_version or guess_version(data)
            found = validate_bundle(data, version=version)
        elif path.suffix == ".dcm":
            from caseconv.dicom.validate import validate_sr

            found = validate_sr(path)
        else:
            _error(f"{path}: not a .fhir.json or .dcm file")
            problems += 1
            continue
        for line in found:
            click.echo(f"{path}: {line}")
        problems += len(found)
        if not found:
            click.echo(f"{path}: ok")
    if problems:
        sys.exit(1)


@main.group()
def mappings() -> None:
    """Inspect the mapping tables."""


@mappings.command(name="check")
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False))
def mappings_check(folders: tuple[str, ...]) -> None:
    """Report every problem in the tables of FOLDERS (default: the shipped tables)."""
    from caseconv.coding.checks import check_main

    sys.exit(check_main([Path(f) for f in folders]))


@main.command()
@click.argument("srs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False))
def sr2fhir(srs: tuple[str, ...], outdir: str) -> None:
    """Convert TID 1500 SRs (any tool's) to FHIR Observations, listing what cannot be mapped."""
    from caseconv.dicom.sr2fhir import sr_to_observations
    from caseconv.pipeline import CaseError, safe_stem, write_outputs

    target = Path(outdir)
    target.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in srs:
        path = Path(name)
        try:
            conversion = sr_to_observations(path)
        except Exception as error:  # noqa: BLE001 - a file that pydicom cannot read at all
            _error(f"{path}: not a readable DICOM SR: {error}")
            failed += 1
            continue
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": r} for r in [*conversion.body_structures, *conversion.observations]]}
        out = target / f"{safe_stem(path)}.observations.json"
        try:
            write_outputs({out: (json.dumps(bundle, indent=2) + "\n").encode()}, overwrite=True)
        except CaseError as error:
            _error(str(error))
            failed += 1
            continue
        for line in conversion.unmapped:
            click.echo(f"{path}: not mapped: {line}", err=True)
        click.echo(f"{path}: {len(conversion.observations)} observations -> {out}")
    if failed:
        sys.exit(1)


def _register_send() -> None:
    """``caseconv send`` lives in its own module (delivery is a stage of its own)."""
    from caseconv.cli_send import send

    main.add_command(send)


_register_send()
