"""The DuckDB engine: the gates' sufficient statistics as GROUP BY queries over a file, a glob, a
hive-partitioned directory or object storage, out of core within a memory limit.

Why DuckDB: its group-by of the cells streams the Parquet columns through a hash table of at most a few
million cells, on every core, spilling to `temp_directory` past `memory_limit`; the gate's process holds only
the cells it fetches. The statements themselves are gates.engine.cells' (shared with Spark), so an engine
is only the connection, the source and the fetch.

The connection is locked down: no extension is installed or loaded on its own, file access is limited to
the source's folder (and the spill folder), and `enable_external_access` is off before any query runs. An
s3:// source is scanned as a pyarrow dataset (gates.readers.objectstore: endpoint and credentials from the
environment); an http(s):// one loads the httpfs extension when it is installed, else it is a one-line error.
"""

from __future__ import annotations

import glob as globbing
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.engine import cells as cell_sql
from gates.engine import watch

REMOTE = ("s3://", "gs://", "http://", "https://", "az://", "abfss://")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


@dataclass(frozen=True)
class Source:
    """A table DuckDB reads: `pattern` is a file, a glob or a URL; `kind` parquet or csv."""

    pattern: str
    kind: str
    root: str  # the folder (or URL prefix) file access is limited to

    @property
    def remote(self) -> bool:
        return self.pattern.startswith(REMOTE)

    def sql(self) -> str:
        literal = "'" + self.pattern.replace("'", "''") + "'"
        if self.kind == "parquet":
            return f"read_parquet({literal}, hive_partitioning = true, union_by_name = true)"
        delimiter = ", delim = '\\t'" if ".tsv" in self.pattern else ""
        return (
            f"read_csv({literal}, header = true, hive_partitioning = true, union_by_name = true{delimiter})"
        )


def source_of(text: str) -> Source:
    """A path, glob, directory (all its Parquet or CSV files, hive partitions as columns) or URL."""
    if text.startswith(REMOTE):
        root = text.split("*", 1)[0].rsplit("/", 1)[0] + "/"
        return Source(text, _kind(text), root)
    path = Path(text)
    if path.is_file():
        return Source(str(path.resolve()), _kind(text), str(path.resolve().parent))
    if path.is_dir():
        for kind, suffix in (("parquet", "parquet"), ("csv", "csv")):
            if next(path.rglob(f"*.{suffix}"), None) is not None:
                return Source(str(path.resolve() / "**" / f"*.{suffix}"), kind, str(path.resolve()))
        raise InputError(f"{text}: the folder holds no .parquet or .csv files")
    if any(ch in text for ch in "*?["):
        if not globbing.glob(text, recursive=True):
            raise InputError(f"{text}: no file matches the pattern")
        root = text.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        return Source(
            text, _kind(text), str(Path(root if root.endswith("/") else Path(root).parent).resolve())
        )
    raise InputError(f"{text}: input file not found")


def _kind(text: str) -> str:
    lowered = text.lower()
    if lowered.endswith((".parquet", ".parq", "/")):
        return "parquet"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputError(f"{text}: the duckdb engine reads Parquet or CSV (.parquet, .csv, .tsv)")


def connect(source: Source, settings: dict[str, Any]):
    """A connection with the policy's limits, reading only the source, with the table as view `src`."""
    try:
        import duckdb
    except ImportError:
        raise InputError(
            "--engine duckdb needs the duckdb package (in mlgate's 'model' extra): pip install 'mlgate[model]'"
        ) from None
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    if settings.get("memory_limit"):
        con.execute(f"SET memory_limit = '{_plain(settings['memory_limit'], 'engine.memory_limit')}'")
    if settings.get("threads"):
        con.execute(f"SET threads = {int(settings['threads'])}")
    con.execute("SET preserve_insertion_order = false")
    # progress is tracked for query_progress() (gates.engine.watch) but DuckDB's own bar is never printed
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    allowed = [source.root.rstrip("/") + "/"]
    if settings.get("temp_directory"):
        spill = str(Path(settings["temp_directory"]).expanduser().resolve())
        os.makedirs(spill, exist_ok=True)
        con.execute(f"SET temp_directory = '{_plain(spill, 'engine.temp_directory')}'")
        allowed.append(spill.rstrip("/") + "/")
    table = source.sql()
    if source.pattern.startswith("s3://"):  # pyarrow's S3 client, its objects scanned as a dataset
        from gates.readers import objectstore

        con.register("mlgate_remote", objectstore.dataset(source.pattern, settings))
        table = "mlgate_remote"
    elif source.remote:
        installed = con.execute(
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchone()
        if not installed or not installed[0]:
            raise InputError(
                f"{source.pattern}: reading object storage needs DuckDB's httpfs extension, which is not "
                "installed (python -c \"import duckdb; duckdb.install_extension('httpfs')\")"
            )
        con.execute("LOAD httpfs")
    listed = ", ".join("'" + a.replace("'", "''") + "'" for a in allowed)
    con.execute(f"SET allowed_directories = [{listed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    try:
        con.execute(f"CREATE TEMP VIEW src AS SELECT * FROM {table}")
        columns = [row[0] for row in con.execute("DESCRIBE src").fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"{source.pattern}: cannot read ({_first_line(exc)})") from None
    return con, columns


def _plain(value: Any, key: str) -> str:
    text = str(value)
    if "'" in text or "\n" in text:
        raise InputError(f"{key}: {text!r} holds a quote or a line break")
    return text


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _runner(con, source: Source) -> Callable[[str], Any]:
    """Run one statement to an Arrow table, its progress (percent done, from query_progress) shown as
    'duckdb query N on NAME'; a DuckDB error is one line naming the source."""
    import duckdb

    numbers = itertools.count(1)
    name = source.pattern.rstrip("/").rsplit("/", 1)[-1]

    def percent() -> tuple[float, None, None] | None:
        done = con.query_progress()
        return (done, None, None) if done >= 0 else None

    def run(sql: str):
        with watch.polled(f"duckdb query {next(numbers)} on {name}", "%", percent):
            try:
                return con.sql(sql).to_arrow_table()
            except duckdb.Error as exc:
                raise InputError(f"{source.pattern}: {_first_line(exc)}") from None

    return run


# ------------------------------------------------------------------------------------------- predictions
def tabulate(
    text: str,
    section: dict[str, Any],
    settings: dict[str, Any],
    sensitive: list[str] | None = None,
    max_cells: int = cell_sql.MAX_CELLS,
):
    """Binary predictions as their cells (gates.engine.cells), computed by DuckDB (or already, in the same
    `mlgate run`, for the other gate: gates.engine.shared; then no connection is opened)."""
    from gates.engine import shared

    source = source_of(text)
    pair = shared.current()
    role = pair.role(section, sensitive) if pair is not None else None
    found = pair.take(("duckdb", source.pattern, max_cells), role) if pair and role else None
    if found is not None:
        return found
    con, columns = connect(source, settings)
    try:
        return cell_sql.compute(
            _runner(con, source),
            quote,
            columns,
            section,
            list(sensitive or []),
            max_cells,
            source.pattern,
            {"engine": "duckdb", "source": source.pattern},
        )
    finally:
        con.close()


# ------------------------------------------------------------------------------------------ drift profiles
def profile(text: str, drift: Any, settings: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
    """The drift reference's profiles (gates.engine.duckdb_profiles): (profiles, rows, source).

    `drift` is the drift section's typed settings: which columns (columns, exclude, and the outputs read
    from the reference), their declared kinds (per_column) and how to summarise (profile_settings)."""
    from gates.engine import duckdb_profiles

    source = source_of(text)
    con, columns = connect(source, settings)
    try:
        names = duckdb_profiles.profile_columns(drift, columns, source.pattern)
        types = {row[0]: str(row[1]) for row in con.execute("DESCRIBE src").fetchall()}
        run = _runner(con, source)
        declared = {n: rule.kind for n, rule in (drift.per_column or {}).items() if rule.kind}
        profiles = duckdb_profiles.build(
            run,
            types,
            names,
            drift.profile_settings.model_dump(),
            declared,
            quote,
        )
        rows = int(run("SELECT count(*) AS n FROM src").column("n").to_pylist()[0])
    finally:
        con.close()
    return profiles, rows, source.pattern
