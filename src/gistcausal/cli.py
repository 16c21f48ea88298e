"""Command-line interface: a thin layer over :mod:`gistcausal.pipeline`.

Exit codes: 0 success; 1 unexpected gistcausal error; 2 configuration error; 3 data error; 4 cohort error;
5 model-fit error; 6 output error (the output folder or a requested file cannot be written: read-only,
permissions, disk full; the previous report is intact); 7 completed with failed optional steps (the report
was written; each failed step is reported in its section and in results.json ``failed_steps``); 130 interrupted (Ctrl-C; no report written, the
previous one intact). Anything else is a bug and keeps its traceback. Every message and warning passes through
:func:`gistcausal.design.redact.redact`, so credentials never reach the terminal or a log.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from gistcausal._version import __version__
from gistcausal.design.redact import redact
from gistcausal.errors import GistCausalError, OutputError

#: Exit code of an interrupted command (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130

#: Exit code of a run that wrote its report but had optional steps fail.
EXIT_FAILED_STEPS = 7

#: Exit code of an unexpected error: a bug in gistcausal (BSD sysexits EX_SOFTWARE).
EXIT_BUG = 70

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="gistcausal: causal comparative-effectiveness analyses of time-to-event outcomes.")
# emoji=False: rich turns ":100:" into an emoji, and "study.yaml:100: ..." is how a message names line 100
console = Console(stderr=True, emoji=False)


def cli_main() -> None:
    """The ``gistcausal`` command: :data:`app`, with an unexpected error (an exception that is not a
    :class:`~gistcausal.errors.GistCausalError`, i.e. a bug) reported in one redacted line and exit code
    :data:`EXIT_BUG` instead of a traceback of library frames. ``GISTCAUSAL_DEBUG=1`` shows the traceback."""
    import os

    try:
        app()
    except Exception as err:  # noqa: BLE001 - the last line of defence; GistCausalError is handled per command
        if os.environ.get("GISTCAUSAL_DEBUG"):
            raise
        from rich.markup import escape

        what = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        console.print(f"[bold red]error[/bold red] an unexpected error stopped the command ({escape(redact(what))}). "
                      "This is a bug in gistcausal, not a problem with your data or config; a previous report is "
                      "intact. Please report it with the command and `gistcausal --version`; set "
                      "GISTCAUSAL_DEBUG=1 to see the traceback.", highlight=False, soft_wrap=True)
        sys.exit(EXIT_BUG)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gistcausal {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")) -> None:
    """Run `gistcausal COMMAND --help` for each command's options."""


def _fail(err: GistCausalError) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[bold red]error[/bold red] {escape(redact(err))}", highlight=False, markup=True,
                  soft_wrap=True)
    return typer.Exit(err.exit_code)


def _interrupted() -> typer.Exit:
    console.print("[bold red]interrupted[/bold red] nothing was written; a previous report is intact. Run the "
                  "command again to start over.", highlight=False)
    return typer.Exit(EXIT_INTERRUPTED)


def _write_flagged_ids(cfg, path: Path) -> None:
    """The patients behind each record-validation issue, to a local CSV the user asked for (the only place
    ids are written; reports and messages hold counts)."""
    from gistcausal.design.data import load_data
    from gistcausal.design.simulate import GIST_VALIDATION
    from gistcausal.design.validation import flagged_records
    from gistcausal.present.render.text import write_frame_csv

    rules = cfg.data.validation
    if rules is None and cfg.data.source == "synthetic":
        rules = GIST_VALIDATION
    if rules is None:
        from gistcausal.design.validation import ValidationConfig

        rules = ValidationConfig()  # ids only: missing and duplicate patient ids
    df = load_data(cfg, check_ids=False)
    id_col = cfg.data.id_col if cfg.data.id_col in df.columns else None
    table = flagged_records(df, rules, id_col=id_col)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_frame_csv(table, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the flagged-ids file (got {exc.strerror or type(exc).__name__}). "
                          "Give a writable path to --write-flagged-ids.") from None
    console.print(f"[yellow]flagged ids[/yellow] {len(table)} flagged record(s) written to {path} (contains "
                  "patient identifiers: keep it local)", highlight=False)


_FLAGGED_HELP = ("Write the patient ids behind each record-validation issue to this local CSV (reports and "
                 "messages only count records).")


def _os_error(err: OSError, path: Path, what: str = "the output") -> OutputError:
    """An OSError of a command that writes directly, in the form of write_outputs' OutputError."""
    from gistcausal.present.report import output_error

    return output_error(err, path, what=what)


def _print_warnings(caught: list) -> None:
    """Show gistcausal's warnings as one readable line each (they are also in the report)."""
    from gistcausal.errors import GistCausalWarning

    for w in caught:
        if issubclass(w.category, GistCausalWarning):
            console.print(f"[yellow]warning[/yellow] {w.category.__name__}: {redact(w.message)}", highlight=False)


class _Progress:
    """Progress of a run: on a terminal a live spinner with the current step (and bootstrap counts), each
    finished step kept as a line; plain log lines when not on a terminal (CI, files); nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.status, self.last = quiet, None, None

    def __enter__(self) -> "_Progress":
        if not self.quiet and console.is_terminal:
            self.status = console.status("starting", spinner="dots")
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)
            if self.last:
                console.print(f"[green]✓[/green] {self.last}", highlight=False)

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        msg = redact(msg)
        if self.status is None:
            print(f"[gistcausal] {msg}", file=sys.stderr)
            return
        step = msg.split(":")[0]
        if self.last and not msg.startswith(self.last.split(":")[0]) and not step.startswith("Bootstrap"):
            console.print(f"[green]✓[/green] {self.last}", highlight=False)
        if not step.startswith("Bootstrap"):
            self.last = msg
        self.status.update(f"[cyan]{msg}[/cyan]")


def _progress(quiet: bool) -> "_Progress":
    return _Progress(quiet)


@app.command()
def run(config: Path = typer.Argument(..., help="Study config (YAML)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default reports/<name>)."),
        seed: Optional[int] = typer.Option(None, help="Override the config's seed."),
        variance: Optional[str] = typer.Option(None, help="Override analysis.survival.variance: robust, "
                                                "m_estimation, m_estimation_corrected or bootstrap."),
        bootstrap: Optional[int] = typer.Option(None, "--bootstrap", "-B", help="Bootstrap replicates (implies "
                                                "--variance bootstrap unless given)."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes of replicate loops "
                                           "(-1: all cores; overrides analysis.engine.n_workers)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print timings and every warning."),
        write_flagged_ids: Optional[Path] = typer.Option(None, "--write-flagged-ids", help=_FLAGGED_HELP)) -> None:
    """Run the whole analysis and write report.html, results.json, tables and figures."""
    from gistcausal.design.config import config_from_dict, load_config
    from gistcausal.pipeline import run as run_pipeline
    from gistcausal.present.report import write_outputs

    try:
        cfg = load_config(config)
        overrides = _cli_overrides(seed=seed, variance=variance, bootstrap=bootstrap, jobs=jobs)
        if overrides:
            raw = _deep_merge(cfg.model_dump(by_alias=True, exclude_none=False, exclude={"source_path"}), overrides)
            cfg = config_from_dict(raw, source=f"{config} (command-line options)").model_copy(
                update={"source_path": cfg.source_path})
        if write_flagged_ids is not None:
            _write_flagged_ids(cfg, write_flagged_ids)
        with _progress(quiet) as progress:
            results = run_pipeline(cfg, progress=progress)
        dest = write_outputs(results, cfg.output_dir(out), command=shlex.join(["gistcausal", *sys.argv[1:]]))
    except GistCausalError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    if not quiet:
        console.print(f"[green]done[/green] n = {results.flow.n_final} analysed; report: {dest / 'report.html'}")
        shown = results.warnings if verbose else results.warnings[:5]
        for w in shown:
            console.print(f"[yellow]warning[/yellow] {redact(w)}", highlight=False)
        if len(results.warnings) > len(shown):
            console.print(f"[yellow]{len(results.warnings) - len(shown)} more warning(s)[/yellow] in the report "
                          "(or use --verbose)")
        if verbose:
            console.print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in results.timings.items()))
    if results.failed_steps:
        for step, reason in results.failed_steps.items():
            console.print(f"[bold yellow]step failed[/bold yellow] {step}: {reason}", highlight=False)
        console.print("[yellow]completed with failed steps[/yellow]: the report was written without them "
                      "(exit code 7)", highlight=False)
        raise typer.Exit(EXIT_FAILED_STEPS)


def _cli_overrides(*, seed, variance, bootstrap, jobs) -> dict:
    """Command-line options as a partial config, validated like the YAML."""
    out: dict = {}
    if seed is not None:
        out["seed"] = seed
    surv: dict = {}
    if variance is not None:
        surv["variance"] = variance
    if bootstrap is not None:
        surv["bootstrap_replicates"] = bootstrap
        surv.setdefault("variance", "bootstrap")
    if surv:
        out.setdefault("analysis", {})["survival"] = surv
    if jobs is not None:
        from gistcausal.engine import engine_from_jobs

        out.setdefault("analysis", {})["engine"] = {"n_workers": engine_from_jobs(jobs).n_workers}
    return out


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for k, v in extra.items():
        merged[k] = _deep_merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


@app.command()
def balance(config: Path = typer.Argument(..., help="Study config (YAML)."),
            out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default reports/<name>/balance)."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")) -> None:
    """Write only the balance tables (Table 1 before/after weighting, SMDs) and love plots."""
    from gistcausal.present.balance_report import write_balance
    from gistcausal.design.config import load_config

    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cfg = load_config(config)
            with _progress(quiet) as progress:
                dest = write_balance(cfg, out if out is not None else cfg.output_dir() / "balance",
                                     progress=progress)
    except GistCausalError as err:
        raise _fail(err) from None
    except OSError as err:  # write_balance writes directly (not through write_outputs)
        raise _fail(_os_error(err, out if out is not None else Path("the balance folder"))) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    if not quiet:
        _print_warnings(caught)
        console.print(f"[green]done[/green] balance tables and love plots in {dest}")


@app.command()
def validate(config: Path = typer.Argument(..., help="Study config (YAML)."),
             write_flagged_ids: Optional[Path] = typer.Option(None, "--write-flagged-ids", help=_FLAGGED_HELP)) -> None:
    """Dry run: check the config against the data (columns, types and levels, dates, record rules, eligibility,
    outcomes, landmarks and horizon within each arm's follow-up, events per arm) without fitting a model. It
    rejects what `run` would reject for these data, with the same message."""
    import warnings

    from gistcausal.design.checks import check_design
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.config import load_config
    from gistcausal.design.data import load_data
    from gistcausal.pipeline import sequential_trials, validate_config_records

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cfg = load_config(config)
            if write_flagged_ids is not None:
                _write_flagged_ids(cfg, write_flagged_ids)
            df = load_data(cfg)
            if cfg.sequential is not None:   # a person-period table: run's expansion checks, no cohort
                flow = sequential_trials(cfg, df)[0]
            else:
                if cfg.protocol is not None:
                    validate_config_records(cfg, df)
                cohort = build_cohort(cfg, df)
                check_design(cfg, cohort)
                flow = cohort.flow
    except GistCausalError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    _print_warnings(caught)
    typer.echo(f"{config}: valid. {flow.summary()}")


@app.command()
def simulate(out: Path = typer.Option(Path("synthetic_registry.csv"), "--out", "-o",
                                      help="Output file (.csv or .parquet)."),
             n: int = typer.Option(480, "--n", help="Number of registry patients."),
             seed: int = typer.Option(20201, help="Random seed."),
             confounding: float = typer.Option(1.0, help="Strength of confounding (0 = randomized)."),
             hr_pfs: float = typer.Option(0.70, help="True conditional HR of the synthetic registry's PFS (second-line switch vs escalation)."),
             hr_os: float = typer.Option(0.85, help="True conditional HR for OS.")) -> None:
    """Write the synthetic GIST registry (calibrated to the study, known true effects)."""
    from gistcausal.design.simulate import simulate_registry

    if n < 20:
        raise _fail(GistCausalError(f"--n: the registry needs at least 20 patients (got {n}). Use a larger --n."))
    df = simulate_registry(n, seed=seed, confounding=confounding, hr_pfs=hr_pfs, hr_os=hr_os)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            df.to_parquet(out, index=False)
        else:
            df.to_csv(out, index=False, date_format="%Y-%m-%d")
    except OSError as err:
        raise _fail(_os_error(err, out, "the file")) from None
    typer.echo(f"wrote {len(df)} synthetic registry records to {out}")


@app.command()
def init(data_file: Optional[Path] = typer.Option(None, "--data", help="Analysis-ready data (csv, parquet, xlsx, "
                                                 "duckdb): init reads it and infers the config from it."),
         out: Path = typer.Option(Path("study.yaml"), "--out", "-o", help="Config file to write."),
         name: Optional[str] = typer.Option(None, help="Study name (names the report folder)."),
         treatment_col: Optional[str] = typer.Option(None, "--treatment", "--treatment-col",
                                                     help="Treatment column (guessed from the names if not given)."),
         time_col: Optional[str] = typer.Option(None, "--time", "--time-col", help="Follow-up time column."),
         event_col: Optional[str] = typer.Option(None, "--event", "--event-col", help="Event column, 1 = event."),
         event_value: Optional[str] = typer.Option(None, help="Code of an event in the event column (guessed with "
                                                   "--data: 1 of 0/1, 2 of R's 1/2, a word like 'dead')."),
         treated_value: Optional[str] = typer.Option(None, help="Code of the treated arm."),
         control_value: Optional[str] = typer.Option(None, help="Code of the control arm (without --data)."),
         time_unit: Optional[str] = typer.Option(None, help="days | weeks | months | years (guessed with --data)."),
         covariates: Optional[str] = typer.Option(None, help="Comma-separated baseline covariates (default with "
                                                  "--data: every other usable column)."),
         shape: Optional[str] = typer.Option(None, help="Without --data: 'table' (analysis-ready data) or "
                                             "'registry' (dated records)."),
         yes: bool = typer.Option(False, "--yes", "-y", help="Accept every guess without asking."),
         force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented config. With --data, every choice is inferred from the data and explained in comments;
    on a terminal each guess can be confirmed or changed (--yes accepts them all)."""
    interactive = sys.stdin.isatty() and not yes
    if out.exists() and not force:
        raise _fail(GistCausalError(f"{out}: file exists (init never overwrites). Choose another --out or add --force."))
    if time_unit is not None and time_unit not in ("days", "weeks", "months", "years"):
        raise _fail(GistCausalError(f"init --time-unit: must be days, weeks, months or years (got {time_unit!r})."))
    try:
        summary: list[str] = []
        if data_file is not None:
            text, summary = _init_from_data(data_file, out, name=name, treatment_col=treatment_col,
                                            time_col=time_col, event_col=event_col, event_value=event_value,
                                            treated_value=treated_value, time_unit=time_unit,
                                            covariates=covariates, interactive=interactive)
        else:
            text = _init_placeholder(out, name=name, shape=shape, treatment_col=treatment_col, time_col=time_col,
                                     event_col=event_col, event_value=event_value, treated_value=treated_value,
                                     control_value=control_value, time_unit=time_unit, covariates=covariates,
                                     interactive=interactive)
    except GistCausalError as err:
        raise _fail(err) from None
    except (KeyboardInterrupt, typer.Abort):
        raise _interrupted() from None
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise _fail(_os_error(err, out, "the file")) from None
    typer.echo(f"wrote {out}; read its comments, then run: gistcausal validate {out}")
    for line in summary:   # the guesses to check, without opening the file
        typer.echo(f"  {line}")


def _init_placeholder(out: Path, *, name, shape, treatment_col, time_col, event_col, event_value, treated_value,
                      control_value, time_unit, covariates, interactive) -> str:
    """``init`` without data: placeholders, asked for on a terminal."""
    from gistcausal.design.scaffold import ScaffoldOptions, render_config

    def ask(value, prompt, default):
        if value is not None:
            return value
        return typer.prompt(prompt, default=default) if interactive else default

    d = ScaffoldOptions()
    opts = ScaffoldOptions(
        name=ask(name, "Study name", d.name), shape=ask(shape, "Data shape (table/registry)", d.shape),
        path=d.path, treatment_col=ask(treatment_col, "Treatment column", d.treatment_col),
        treated_value=ask(treated_value, "Code of the treated arm", d.treated_value),
        control_value=ask(control_value, "Code of the control arm", d.control_value),
        time_col=time_col or d.time_col, event_col=event_col or d.event_col, event_value=event_value or d.event_value,
        time_unit=time_unit or d.time_unit,
        covariates=tuple(c.strip() for c in (covariates or ",".join(d.covariates)).split(",") if c.strip()))
    return render_config(opts, file=str(out))


def _read_for_init(path: Path):
    """The data file through the same readers as `run` (design/data.py), chosen by its suffix, and the CSV
    settings it needs (:func:`~gistcausal.design.data.sniff_csv`)."""
    from gistcausal.design.config import config_from_dict
    from gistcausal.design.data import load_data, sniff_csv
    from gistcausal.design.scaffold import _source
    from gistcausal.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: data file not found (init --data). Check the path.")
    source = _source(path.name)
    raw = {"name": "init", "data": {"source": source, "path": str(path.resolve())},
           "table": {"treatment": {"column": "_", "arms": {"a": [1], "b": [0]}, "treated": "a"},
                     "outcomes": {"o": {"label": "o", "time_col": "_", "event_col": "_"}}}}
    if source == "duckdb":
        raise DataError(f"{path}: init --data reads files with one table (csv, parquet, xlsx) (got a DuckDB "
                        "database). Export the analysis table to CSV or Parquet, or write the config by hand.")
    options = sniff_csv(path) if source == "csv" else {}   # ; and 3,5 (European Excel), cp1252: written out
    if source == "excel":
        options = _data_sheet(path)
    raw["data"].update(options)
    df = load_data(config_from_dict(raw, source="init --data"), check_treatment=False)
    if source == "csv":
        _no_title_line(path, df, options.get("sep", ","))
    return df, options


def _no_title_line(path: Path, df, sep: str) -> None:
    """A title or export note above the header ("Registry export 2024-03-01"): pandas read it as the only column
    name and init said no column looked like a follow-up time. Raise saying what the first lines hold."""
    from gistcausal.errors import DataError

    if len(df.columns) > 1:
        return
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        lines = [ln for ln in (fh.readline() for _ in range(6)) if ln.strip()]
    widths = [ln.count(sep) + 1 for ln in lines]
    if len(widths) > 2 and widths[0] == 1 and min(widths[1:]) > 1:
        raise DataError(f"{path}: the first line looks like a title above the header (got 1 field, then lines of "
                        f"{widths[1]} fields: {lines[0].strip()[:60]!r}). Remove the line(s) above the column names, "
                        "then run init again.")


def _data_sheet(path: Path) -> dict[str, str]:
    """A workbook of several sheets (a README or a codebook beside the data): the sheet holding the table, the one
    with the most filled cells, as ``{"sheet": name}``; init read the first sheet and failed on a README."""
    import pandas as pd

    with pd.ExcelFile(path) as book:
        names = [str(n) for n in book.sheet_names]
        if len(names) < 2:
            return {}
        sizes = {n: int(book.parse(n).notna().to_numpy().sum()) for n in names}
    best = max(names, key=lambda n: (sizes[n], -names.index(n)))
    return {} if best == names[0] else {"sheet": best}


def _init_from_data(data_file: Path, out: Path, *, name, treatment_col, time_col, event_col, event_value,
                    treated_value, time_unit, covariates, interactive) -> tuple[str, list[str]]:
    """``init --data``: read the data, infer the config, let a terminal user confirm or change each guess."""
    from gistcausal.design.scaffold import guess_columns, plan_summary, propose, relative_data_path, render_plan

    df, csv_options = _read_for_init(data_file)
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    rel = relative_data_path(data_file, out)
    chosen_covs = None if covariates is None else tuple(c.strip() for c in covariates.split(",") if c.strip())
    if interactive:
        console.print(f"[bold]{data_file}[/bold]: {len(df)} rows, {len(df.columns)} columns. Press Enter to accept "
                      "each guess, or type another value.", highlight=False)
        cand = guess_columns(df)

        def column(given, role, prompt):
            if given is not None:
                return given
            default = next((c for c in cand[role] if c not in (time_col, event_col)), None)
            return typer.prompt(prompt, default=default) if default else typer.prompt(prompt)

        time_col = column(time_col, "time", "Follow-up time column")
        event_col = column(event_col, "event", "Event column (1 = event)")
        treatment_col = column(treatment_col, "treatment", "Treatment column")
    plan = propose(df, data_path=rel, name=name, treatment_col=treatment_col, time_col=time_col,
                   event_col=event_col, event_value=event_value, treated_value=treated_value, time_unit=time_unit,
                   covariates=chosen_covs, csv_options=csv_options)
    if interactive:
        codes = [str(a[1]) for a in plan.arms]
        treated_value = treated_value or typer.prompt(f"Code of the treated arm ({' or '.join(codes)})",
                                                      default=codes[0])
        event_value = event_value or typer.prompt(f"Code of an event in '{plan.event_col}' ({plan.event_reason})",
                                                  default=str(plan.event_value))
        time_unit = time_unit or typer.prompt("Time unit (days/weeks/months/years)", default=plan.time_unit)
        plan = propose(df, data_path=rel, name=name, treatment_col=plan.treatment_col, time_col=plan.time_col,
                       event_col=plan.event_col, event_value=event_value, treated_value=treated_value,
                       time_unit=time_unit, covariates=chosen_covs, csv_options=csv_options)
        horizon = typer.prompt(f"Horizon in {plan.time_unit} ({plan.times_reason})", default=f"{plan.horizon:g}",
                               type=float)
        types = {}
        for g in plan.covariates + plan.skipped:
            types[g.name] = typer.prompt(f"Type of '{g.name}' ({g.reason}): categorical/binary/continuous/skip",
                                         default=g.type)
        plan = propose(df, data_path=rel, name=name, treatment_col=plan.treatment_col, time_col=plan.time_col,
                       event_col=plan.event_col, event_value=event_value, treated_value=treated_value,
                       time_unit=time_unit, horizon=horizon, covariate_types=types, covariates=chosen_covs,
                       csv_options=csv_options)
    # the columns as chosen, not sys.argv: the same data and choices give the same file
    command = shlex.join(["gistcausal", "init", "--data", str(data_file), "--treatment", plan.treatment_col,
                          "--time", plan.time_col, "--event", plan.event_col,
                          *(["--event-value", str(event_value)] if event_value is not None else [])])
    return render_plan(plan, command=command), plan_summary(plan)


@app.command()
def plasmode(config: Path = typer.Argument(..., help="Study config (YAML)."),
             outcome: Optional[str] = typer.Option(None, help="Outcome (default: the primary outcome)."),
             estimand: str = typer.Option("ATE", help="ATE, ATT or ATC."),
             true_hr: Optional[float] = typer.Option(None, "--true-hr", help="Injected HR (default: as fitted)."),
             marginal: bool = typer.Option(False, "--marginal", help="--true-hr is the target marginal HR."),
             true_or: Optional[float] = typer.Option(None, "--true-or", help="Binary outcome: injected conditional "
                                                     "odds ratio (default: as fitted)."),
             true_mean_diff: Optional[float] = typer.Option(None, "--true-mean-diff", help="Continuous outcome: "
                                                            "injected mean difference (default: as fitted)."),
             cause: Optional[str] = typer.Option(None, "--cause", help="Competing risks: the cause of interest "
                                                 "(--true-hr is its cause-specific HR; default: the first cause)."),
             replicates: int = typer.Option(1000, "--replicates", "-n", help="Number of replicates."),
             sample_size: Optional[int] = typer.Option(None, "--sample-size", help="Patients per replicate."),
             treatment: str = typer.Option("observed", help="observed (keep) or simulated (from the PS model)."),
             u_treatment: Optional[float] = typer.Option(None, "--u-treatment", help="Unmeasured U: log-OR for treatment."),
             u_outcome: Optional[float] = typer.Option(None, "--u-outcome", help="Unmeasured U: log-HR for the event "
                                            "(binary outcome: log-OR; continuous: mean shift)."),
             u_prevalence: float = typer.Option(0.3, "--u-prevalence", help="P(U=1) in the control arm."),
             backend: Optional[str] = typer.Option(None, help="local (joblib processes) or dask (default: the "
                                                   "config's analysis.engine)."),
             scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786."),
             jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Local processes (-1: all cores)."),
             random_state: Optional[int] = typer.Option(None, "--seed", help="Override the config's seed."),
             checkpoint: Optional[Path] = typer.Option(None, help="JSON-lines checkpoint; rerun to resume."),
             out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default reports/<name>/plasmode)."),
             quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")) -> None:
    """Plasmode simulation: bias, coverage and power of the configured analysis on data like yours."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.config import load_config
    from gistcausal.design.data import load_data
    from gistcausal.analysis.plasmode import PlasmodeSettings
    from gistcausal.analysis.plasmode import plasmode as run_plasmode
    from gistcausal.analysis.spec import engine as spec_engine
    from gistcausal.present.plots.plasmode import plot_coverage, plot_estimates
    from gistcausal.present.report import dumps_json

    try:
        cfg = load_config(config)
        cohort = build_cohort(cfg, load_data(cfg))
        u = None if u_treatment is None and u_outcome is None else dict(
            strength_treatment=u_treatment, strength_outcome=u_outcome, prevalence=u_prevalence)
        # the command-line engine options, when any is given, replace the config's analysis.engine
        from_cli = backend is not None or scheduler is not None or jobs is not None
        settings = PlasmodeSettings(true_hr=true_hr, true_effect_measure="marginal_hr" if marginal else "hr",
                                    true_or=true_or, true_mean_diff=true_mean_diff, cause=cause,
                                    n_replicates=replicates, sample_size=sample_size, treatment=treatment,
                                    unmeasured_confounder=u, backend=backend or "local", scheduler=scheduler,
                                    n_jobs=-1 if jobs is None else jobs, checkpoint=checkpoint)
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, disable=quiet or not console.is_terminal, transient=True) as bar:
            task = bar.add_task("plasmode replicates", total=replicates)
            res = run_plasmode(cfg, cohort.frame, outcome=outcome or cfg.primary_outcome, estimand=estimand,
                               settings=settings, random_state=cfg.seed if random_state is None else random_state,
                               progress=lambda done, total: bar.update(task, completed=done, total=total),
                               engine=None if from_cli else spec_engine(cfg))
    except GistCausalError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        raise _interrupted() from None
    dest = out if out is not None else cfg.output_dir() / "plasmode"
    from matplotlib.figure import Figure

    from gistcausal.present.plots import printable_figure, save_figure
    from gistcausal.present.render.text import write_frame_csv
    from gistcausal.present.report import atomic_dir

    try:
        with atomic_dir(dest) as tmp:
            (tmp / "plasmode.json").write_text(dumps_json(res.to_dict()), encoding="utf-8")
            write_frame_csv(res.to_frame(), tmp / "plasmode_metrics.csv")
            write_frame_csv(res.failure_counts(), tmp / "plasmode_failures.csv")
            for name, fn in (("plasmode_estimates", plot_estimates), ("plasmode_coverage", plot_coverage)):
                fig = Figure(figsize=(7.5, 4.5))
                fn(res, ax=fig.subplots())
                fig.tight_layout()
                save_figure(printable_figure(fig), tmp / name, dpi=150)   # as the report writes them
    except OSError as err:
        raise _fail(_os_error(err, dest)) from None
    if not quiet:
        console.print(res.summary(), highlight=False)
        console.print(f"[green]done[/green] {res.n_replicates} replicates ({res.n_failed} failed); {dest}")


@app.command()
def schema() -> None:
    """Print the config's JSON Schema (for editor completion and validation of YAML)."""
    from gistcausal.design.config import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


if __name__ == "__main__":  # pragma: no cover
    app()
