"""The Spark engine: the gates' sufficient statistics as aggregations on the executors, merged on the driver.

The statements are gates.engine.cells' (the same SQL DuckDB runs), over a temporary view of a DataFrame, a
table name or a path; the driver collects only the cells (at most `max_cells` rows) as Arrow batches
(toArrow, else collect()), never the rows and never through pandas. Three ways in:

- notebooks / Databricks jobs: `compute_statistics(df_or_table_or_path, section, sensitive=...)` returns the
  cells (a TabulatedPredictions) and `evaluate(...)` runs the metrics or bias gate on them;
- `mlgate metrics|bias --engine spark`: a session from the policy's `engine.spark` (master, conf);
- `spark-submit -m gates.engine.spark` / `python -m gates.engine.spark --gate bias --policy gates.yml
  [--table T]`: runs one gate in the Spark driver and writes the report (JSON and the usual formats).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.engine import cells as cell_sql
from gates.engine import watch

DEFAULT_MASTER = "local[*]"
TABLE_PREFIX = "table:"  # a policy's `predictions: table:db.name` names a Spark table
# a session mlgate starts itself (never a notebook's): no web UI and no console bar (mlgate shows progress,
# stdout is the verdict's), adaptive execution (it coalesces the cells' shuffle into few partitions)
SESSION_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
}


def session_conf(spec: dict[str, Any]) -> dict[str, str]:
    """The conf of a session mlgate starts from `engine.spark` {master, conf}: mlgate's defaults, shuffle
    partitions sized for a local master, then what the policy says (it wins)."""
    master = str(spec.get("master", DEFAULT_MASTER))
    return {
        **SESSION_DEFAULTS,
        **local_partitions(master),
        **{str(k): _text(v) for k, v in (spec.get("conf") or {}).items()},
    }


def session(settings: dict[str, Any]):
    """The active Spark session (a notebook's), else one built from `engine.spark` {master, conf}."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "--engine spark needs mlgate's 'spark' extra (pyspark not installed): pip install 'mlgate[spark]'"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    spec = settings.get("spark") or {}
    master = str(spec.get("master", DEFAULT_MASTER))
    builder = SparkSession.builder.master(master).appName("mlgate")
    for key, value in session_conf(spec).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel(str(spec.get("log_level", "ERROR")))
        return spark
    except Exception as exc:  # noqa: BLE001 - no Java, no cluster: an infrastructure fault, said in one line
        from gates.core.errors import InfraError

        raise InfraError(f"spark: cannot start a session ({str(exc).strip().splitlines()[0]})") from None


def _text(value: Any) -> str:
    """A conf value as Spark reads it (YAML's true is Spark's "true", not Python's "True")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def local_partitions(master: str) -> dict[str, str]:
    """spark.sql.shuffle.partitions for a local master: two per core (Spark's 200 default makes 200 tasks
    of a few thousand cells each, which on one machine costs more than the aggregation); none for a
    cluster, whose own setting stands."""
    import os
    import re

    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if not found:
        return {}
    if found.group(1) is None:
        cores = 1
    elif found.group(1) == "*":
        cores = os.cpu_count() or 1
    else:
        cores = int(found.group(1))
    return {"spark.sql.shuffle.partitions": str(2 * max(1, cores))}


def frame_of(spark, source: Any):
    """A DataFrame from a DataFrame, a table name (`db.table`), or a path (file, glob, folder, URL)."""
    if not isinstance(source, str):
        return source, "DataFrame"
    text = source
    try:
        if text.startswith(TABLE_PREFIX):
            return spark.table(text[len(TABLE_PREFIX) :]), text
        lowered = text.lower()
        if lowered.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
            reader = spark.read.option("header", True).option("inferSchema", True)
            if ".tsv" in lowered:
                reader = reader.option("sep", "\t")
            return reader.csv(text), text
        return spark.read.parquet(text), text
    except Exception as exc:  # noqa: BLE001 - Spark's AnalysisException and friends: one line naming the input
        raise InputError(f"{text}: cannot read ({str(exc).strip().splitlines()[0]})") from None


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _collect(spark, sql: Any, label: str):
    """The statement's (or DataFrame's) result collected on the driver as an Arrow table: only cells come back, as Arrow
    batches where the Spark version has DataFrame.toArrow (4.0+; a million cells as Row objects take tens of
    seconds), else through collect(). Never toPandas."""
    import pyarrow as pa

    try:
        with watch.polled(f"spark query on {label}", "tasks", lambda: _stages(spark)):
            result = spark.sql(sql) if isinstance(sql, str) else sql
            if hasattr(result, "toArrow"):
                return result.toArrow()
            names = list(result.columns)
            rows = result.collect()
    except Exception as exc:  # noqa: BLE001 - one line naming the input
        raise InputError(f"{label}: {str(exc).strip().splitlines()[0]}") from None
    columns = list(zip(*rows)) if rows else [() for _ in names]
    return pa.table({name: pa.array(list(values)) for name, values in zip(names, columns)})


def _stages(spark) -> watch.Reading:
    """(tasks done, tasks in all, 'stage 3, 4') over the stages running now, from Spark's status tracker;
    None between stages."""
    tracker = spark.sparkContext.statusTracker()
    infos = [info for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None]
    if not infos:
        return None
    done = sum(info.numCompletedTasks for info in infos)
    total = sum(info.numTasks for info in infos)
    return (
        done,
        total,
        "stage " + ", ".join(str(info.stageId) for info in sorted(infos, key=lambda i: i.stageId)),
    )


def compute_statistics(
    source: Any,
    section: dict[str, Any],
    sensitive: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    max_cells: int = cell_sql.MAX_CELLS,
):
    """Binary cells (gates.engine.cells) of a DataFrame, table or path: the Python API for notebooks.

    `section` is the gate's policy section as a dict (columns, classes, positive_label, missing_group ...).
    """
    spark = session(settings or {})
    frame, label = frame_of(spark, source)
    section = {**section, "task": "binary"}
    features = list(sensitive or [])
    with _view(spark, frame) as view:
        return cell_sql.compute(
            _statements(
                spark, frame, view, label, (list(frame.columns), section, features, label), max_cells
            ),
            quote,
            list(frame.columns),
            section,
            features,
            max_cells,
            label,
            {"engine": "spark", "source": label},
        )


def profile(source: Any, drift: Any, settings: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
    """The drift reference's profiles on Spark (gates.engine.spark_profiles): (profiles, rows, source).

    `source`: a path, `table:NAME` or a DataFrame; `drift`: the drift section's typed settings (columns,
    exclude, the outputs read from the reference, per_column kinds, profile_settings)."""
    from gates.engine import duckdb_profiles, spark_profiles

    spark = session(settings)
    frame, label = frame_of(spark, source)
    columns = list(frame.columns)
    names = duckdb_profiles.profile_columns(drift, columns, label)
    with _view(spark, frame.select(*[frame[quote(n)] for n in names])) as view:

        def resolve(sql: str) -> str:
            return sql.replace(" FROM src", f" FROM {view}")

        def run(sql: str):
            return _collect(spark, resolve(sql), label)

        declared = {n: rule.kind for n, rule in (drift.per_column or {}).items() if rule.kind}
        profiles = duckdb_profiles.build(
            run,
            dict(frame.dtypes),
            names,
            drift.profile_settings.model_dump(),
            declared,
            quote,
            spark_profiles.dialect(spark, resolve),
        )
        rows = int(run("SELECT count(*) AS n FROM src").column("n").to_pylist()[0])
    return profiles, rows, label


def tabulate(
    text: str,
    section: dict[str, Any],
    settings: dict[str, Any],
    sensitive: list[str] | None = None,
    max_cells: int = cell_sql.MAX_CELLS,
):
    """gates.engine.choose's entry: the cells of a path (or table name) on the policy's Spark session; in
    an `mlgate run` with both metrics and bias on the same predictions (gates.engine.shared), both gates'
    cells from one shape scan and one GROUPING SETS scan (cells.compute_joint), the second gate taking its
    share, instead of two scans per gate."""
    from gates.engine import shared

    pair = shared.current()
    role = pair.role(section, sensitive) if pair is not None else None
    if pair is None or role is None:
        return compute_statistics(text, section, sensitive, settings, max_cells)

    def joint() -> dict[str, Any]:
        spark = session(settings)
        frame, label = frame_of(spark, text)
        metrics_section = section if role == "metrics" else pair.bias_section
        with _view(spark, frame) as view:
            shape_args = (list(frame.columns), pair.bias_section, pair.features, label)
            return cell_sql.compute_joint(
                _statements(spark, frame, view, label, shape_args, max_cells, pair.bias_scores),
                quote,
                list(frame.columns),
                {**metrics_section, "task": "binary"},
                pair.bias_section,
                pair.features,
                max_cells,
                label,
                {"engine": "spark", "source": label},
                pair.bias_scores,
            )

    found = pair.cells(("spark", text, max_cells), role, joint)
    return found if found is not None else compute_statistics(text, section, sensitive, settings, max_cells)


def _statements(spark, frame, view: str, label: str, shape_args: tuple, max_cells: int, bias_scores=None):
    """The query callback of cells.compute / compute_joint: statements over the view, the grid's cells
    statement as one packed key (gates.engine.spark_cells)."""
    from gates.engine.spark_cells import Statements

    return Statements(
        frame,
        lambda sql: _collect(spark, sql.replace(" FROM src", f" FROM {view}"), label),
        lambda df: _collect(spark, df, label),
        shape_args,
        max_cells,
        bias_scores,
    )


@contextmanager
def _view(spark, frame) -> Iterator[str]:
    """A uniquely named temporary view of `frame` (a notebook's own views are never shadowed), dropped
    after use."""
    view = f"mlgate_src_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(view)
    try:
        yield view
    finally:
        spark.catalog.dropTempView(view)


def evaluate(gate: str, source: Any, section: dict[str, Any], report_dir: str | Path = "mlgate-report"):
    """Run the metrics or bias gate on a DataFrame / table / path in a notebook: a GateResult."""
    from gates.core.context import GateContext

    ctx = GateContext(base_dir=Path.cwd(), report_dir=Path(report_dir))
    if gate == "metrics":
        from gates import metrics

        return metrics.evaluate(compute_statistics(source, section), None, section, ctx)
    if gate == "bias":
        from gates import bias

        features = list(bias.sensitive_features(section))
        return bias.evaluate(compute_statistics(source, section, features), {}, section, ctx)
    raise InputError(f"gate {gate!r}: the Spark entry point runs metrics or bias")


# ------------------------------------------------------------------------------------------- spark-submit
def main(argv: list[str] | None = None) -> int:
    """Run the metrics or bias gate of a policy in this Spark driver and write its reports.

    `spark-submit gates/engine/spark.py --policy gates.yml --gate bias [--table db.t]` (or `python -m
    gates.engine.spark ...`): mlgate's session, so the reports, formats, audit and exit code are those of
    `mlgate bias --engine spark`; --table reads a Spark table in place of the section's predictions."""
    parser = argparse.ArgumentParser(prog="python -m gates.engine.spark", description=main.__doc__)
    parser.add_argument("--policy", required=True, type=Path, help="gates.yml")
    parser.add_argument("--gate", required=True, choices=["metrics", "bias"])
    parser.add_argument("--table", help="A Spark table to read in place of the section's predictions.")
    parser.add_argument("--report-dir", type=Path, help="Where the reports go (default: the policy's).")
    parser.add_argument("--no-audit", action="store_true", help="Do not append to the audit trail.")
    args = parser.parse_args(argv)
    from gates.commands.session import Session
    from gates.core.errors import MlgateError

    run = Session(policy_path=args.policy, report_dir=args.report_dir, audit=not args.no_audit)
    overrides: dict[str, Any] = {"engine": "spark"}
    if args.table:
        overrides["predictions"] = f"{TABLE_PREFIX}{args.table}"
    try:
        return run.run_gates([(args.gate, overrides)])
    except MlgateError as exc:
        print(f"mlgate: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
