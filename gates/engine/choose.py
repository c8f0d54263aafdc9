"""Which engine computes a gate's statistics, from the flag (`--engine`, the section's `engine` key) and the
policy's top-level `engine:` settings; and the one call the gates make to get binary cells from it.

`auto` keeps today's local reading for single files up to `auto_bytes` (the in-memory path, or
gates.engine.local's chunks as the section's `streaming` setting says) and hands globs, folders, object
storage and larger files to DuckDB when it is installed. The local engine reads one s3:// object too, for
binary predictions: copied through pyarrow's S3 client into a temporary file (gates.readers.objectstore). `spark` is never chosen on its own: a cluster is
a decision, not a default. Tasks only the in-memory path supports (multiclass, regression, the paired
baseline comparison) stay local, and asking another engine for them is an error.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.engine import cells as cell_sql
from gates.engine.duckdb import REMOTE
from gates.engine.local import settings as local_settings
from gates.readers.predictions import TabulatedPredictions, infer_task

ENGINES = ("local", "duckdb", "spark", "auto")
AUTO_BYTES = 256 << 20  # `auto`: single files larger than this go to DuckDB
TABLE_PREFIX = "table:"  # `predictions: table:db.name`: a Spark table (gates.engine.spark)


def settings_of(ctx: Any) -> dict[str, Any]:
    """The policy's top-level `engine:` section (empty when absent or when the context has none)."""
    return dict(getattr(ctx, "engine", None) or {})


def is_collection(text: str) -> bool:
    """A glob, a folder, object storage or a Spark table: what only DuckDB and Spark read (a file whose
    name holds a glob character is still a file)."""
    if text.startswith((*REMOTE, TABLE_PREFIX)):
        return True
    path = Path(text)
    return path.is_dir() or (not path.is_file() and any(ch in text for ch in "*?["))


def resolve(
    requested: str | None,
    text: str,
    settings: dict[str, Any],
    in_memory_only: str | None,
    by_size: bool = True,
) -> str:
    """The engine to use for the table at `text` (already resolved against the policy folder).

    `in_memory_only` names why only the local engine can run (None when any engine can); `by_size` False:
    `auto` keeps single files local whatever their size (drift reads them column by column, faster than
    DuckDB's quantiles)."""
    name = requested or settings.get("default") or "auto"
    if name not in ENGINES:
        raise InputError(f"engine: unknown engine {name!r} (expected one of {', '.join(ENGINES)})")
    if text.startswith(TABLE_PREFIX) and name != "spark":
        raise InputError(f"{text}: a Spark table is read by the spark engine only; use --engine spark")
    if name == "auto":
        if in_memory_only:
            return "local"
        if is_collection(text):
            return "duckdb"
        path = Path(text)
        limit = int(settings.get("auto_bytes", AUTO_BYTES))
        big = by_size and path.is_file() and path.stat().st_size > limit
        return "duckdb" if big and importlib.util.find_spec("duckdb") is not None else "local"
    if name != "local" and in_memory_only:
        raise InputError(f"engine {name}: {in_memory_only}; use --engine local")
    if name == "local" and is_collection(text) and not one_object(text):
        raise InputError(f"{text}: the local engine reads one file; use --engine duckdb or spark for this")
    if name == "spark":
        from gates.core.registry import require_extra

        require_extra("--engine spark", "spark")
    return name


def one_object(text: str) -> bool:
    """One s3:// object (no glob, not a prefix): what the local engine can copy and read."""
    return text.startswith("s3://") and not text.endswith("/") and not any(ch in text for ch in "*?[")


def location(section_value: str, ctx: Any) -> str:
    """A policy path as the engines read it: relative to the policy folder, URLs as they are."""
    if section_value.startswith((*REMOTE, TABLE_PREFIX)):
        return section_value
    path = Path(section_value).expanduser()
    return str(path if path.is_absolute() else Path(ctx.base_dir) / path)


def record_inputs(text: str, ctx: Any) -> None:
    """Hash every local file an engine reads into the run's inputs (the audit trail), as ctx.path does."""
    if text.startswith((*REMOTE, TABLE_PREFIX)):
        ctx.inputs[text] = "not hashed (object storage or a Spark table)"
        return
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    elif any(ch in text for ch in "*?["):
        import glob

        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    else:
        files = [path]
    for file in files:
        ctx.path(str(file))


def binary_cells(
    section: dict[str, Any], ctx: Any, where: str, sensitive: list[str] | None = None
) -> TabulatedPredictions | None:
    """The binary cells of the section's predictions from the chosen engine, or None when the gate should
    read the table itself (the local engine: in memory, or in chunks as `streaming` says).

    `section` is the gate's settings: a mapping, or a typed section (gates.core.settings) read through its
    reader_spec(), the mapping the readers take."""
    if hasattr(section, "reader_spec"):
        section = section.reader_spec()
    text = location(section["predictions"], ctx)
    task = "binary" if where == "bias" else infer_task(section)
    reason = None
    if task != "binary":
        reason = f"only binary predictions are computed out of process (task is {task})"
    elif section.get("baseline"):
        reason = "the baseline comparison joins both files' rows, which only the local engine does"
    elif local_settings(section)["enabled"] != "auto" and not is_collection(text):
        reason = f"{where}.streaming is set, which is the local engine's chunked reading"
    settings = settings_of(ctx)
    if reason and text.startswith(REMOTE):
        if one_object(text) and section.get("engine") in (None, "auto", "local"):
            return None  # the local engine reads its copy (fetched)
        raise InputError(
            f"{text}: only the local engine reads this, from one object ({reason}); DuckDB and Spark "
            "compute binary predictions without a baseline"
        )
    name = resolve(section.get("engine"), text, settings, reason)
    task_section = {**section, "task": "binary"}
    if name == "local" and one_object(text):
        from gates.engine import local

        with fetched(ctx) as copy_of:  # one object: copied, hashed under its URI, tabulated, removed
            return local.tabulate(copy_of(text), task_section, sensitive, where=where)
    if name == "local":
        return None
    record_inputs(text, ctx)
    max_cells = int(settings.get("max_cells", cell_sql.MAX_CELLS))
    if name == "duckdb":
        from gates.engine import duckdb

        return duckdb.tabulate(text, task_section, settings, sensitive, max_cells)
    from gates.engine import spark

    return spark.tabulate(text, task_section, settings, sensitive, max_cells)


@contextmanager
def fetched(ctx: Any) -> Iterator[Callable[[str], Path]]:
    """Within the block, a function from a policy location to the local file the local engine reads: the
    path (recorded by ctx.path), or for one s3:// object a copy in a private temporary folder, hashed into
    the run's inputs under its URI. The copies are removed when the block ends."""
    import shutil

    from gates.core.context import sha256_file
    from gates.readers import objectstore

    folders: list[Path] = []

    def local(text: str) -> Path:
        if not text.startswith(REMOTE):
            return ctx.path(text)
        folders.append(objectstore.scratch())
        copy = objectstore.fetch(text, folders[-1], settings_of(ctx))
        ctx.inputs[text] = sha256_file(copy)
        return copy

    try:
        yield local
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def drift_profiles(
    text: str, settings: Any, engine_settings: dict[str, Any], ctx: Any = None
) -> tuple[dict[str, Any], int, str] | None:
    """The drift reference's profiles from DuckDB or Spark: (profiles, rows, source), or None when the gate
    reads the reference itself (a stored profile, or the local engine). `settings`: the drift section's
    typed settings (columns, exclude, outputs, per_column kinds, profile_settings, engine)."""
    from gates.readers.columns import is_profile_path

    if not text.startswith((*REMOTE, TABLE_PREFIX)) and is_profile_path(Path(text)):
        return None
    name = resolve(getattr(settings, "engine", None), text, engine_settings, None, by_size=False)
    if name == "local" and text.startswith(REMOTE):
        raise InputError(f"{text}: a reference in object storage is profiled by --engine duckdb or spark")
    if name == "local":
        return None
    if ctx is not None:
        record_inputs(text, ctx)
    if name == "spark":
        from gates.engine import spark

        return spark.profile(text, settings, engine_settings)
    from gates.engine import duckdb

    return duckdb.profile(text, settings, engine_settings)
