"""Data gate rules at scale: seconds per rule on a generated table, and the same schema validated by pandera
(the schema is written by pandera and read by the gate, so both run the same checks).

Run: python bench/data_rules.py [--rows 1000000]. In process (imports not counted); about a
minute at 1e6 rows on 2 cores. Results: bench/results/data_rules.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-01-01") + pd.to_timedelta(
        np.sort(rng.integers(0, 86400 * 300, rows)), unit="s"
    )
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "age": rng.integers(18, 80, rows),
            "income": rng.lognormal(10, 0.4, rows),
            "sex": rng.choice(["female", "male"], rows),
            "start": start,
            "end": start + pd.Timedelta(hours=1),
        }
    )


RULES = {
    "type + range (age)": {"columns": {"age": {"type": "integer", "min": 18, "max": 99}}},
    "allowed (sex)": {"columns": {"sex": {"allowed": ["female", "male"]}}},
    "unique (id)": {"columns": {"id": {"unique": True}}},
    "pattern (email)": {"columns": {"email": {"pattern": r"^[^@\s]+@[^@\s]+$"}}},
    "length (email)": {"columns": {"email": {"length": {"min": 3, "max": 254}}}},
    "date range + monotonic + freshness (start)": {
        "columns": {"start": {"min": "2026-01-01", "monotonic": "increasing", "max_age": "400d"}}
    },
    "mean + std, 1000 bootstrap resamples (income)": {
        "columns": {"income": {"mean": {"min": 0}, "std": {"min": 0}}}
    },
    "quantiles 0.5, 0.99, exact interval (income)": {
        "columns": {"income": {"quantiles": [{"q": 0.5, "min": 0}, {"q": 0.99, "max": 1e9}]}}
    },
    "expression end - start == 3600": {"checks": [{"expression": "end - start == 3600"}]},
    "duplicates (id, sex)": {"checks": [{"duplicates": ["id", "sex"]}]},
}


def main() -> None:
    from gates import data as gate
    from gates.data.statistics import Judging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = table(args.rows)
    now = pd.Timestamp("2026-12-04T00:00Z")
    timings = {}
    for name, schema in RULES.items():
        started = time.perf_counter()
        result = gate.evaluate(
            frame, {**schema, "extra_columns": "allow"}, "bench", judging=Judging(), now=now
        )
        timings[name] = time.perf_counter() - started
        assert result.status.passed, [c.why for c in result.checks if not c.status.passed]
    comparison = pandera_comparison(frame)
    lines = [
        f"# Data gate rules on {args.rows:,} rows (in process, 2 cores)\n",
        "| rule | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in timings.items()),
        "",
        "Same pandera schema (8 column checks, unique id, nullable false), validated by pandera and by the gate:",
        "",
        "| validator | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in comparison.items()),
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data_rules.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "data_rules.json").write_text(
        json.dumps({"rows": args.rows, "rules": timings, "pandera_vs_gate": comparison}, indent=2) + "\n"
    )
    print("\n".join(lines))


def pandera_comparison(frame: pd.DataFrame) -> dict[str, float]:
    import pandera.pandas as pa

    from gates import data as gate
    from gates.data.suites import parse_suite_text, read_suite

    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(int, pa.Check.ge(0), unique=True),
            "email": pa.Column(str, [pa.Check.str_matches(r"[^@\s]+@"), pa.Check.str_length(3, 254)]),
            "age": pa.Column(int, pa.Check.in_range(18, 99)),
            "income": pa.Column(float, pa.Check.gt(0)),
            "sex": pa.Column(str, pa.Check.isin(["female", "male"])),
            "start": pa.Column("datetime64[ns]"),
            "end": pa.Column("datetime64[ns]"),
        }
    )
    started = time.perf_counter()
    schema.validate(frame, lazy=True)
    theirs = time.perf_counter() - started
    suite = read_suite(parse_suite_text(schema.to_yaml(), "bench"), "bench")
    started = time.perf_counter()
    result = gate.evaluate(frame, suite.schema, "bench")
    ours = time.perf_counter() - started
    assert result.status.passed, [c.why for c in result.checks if not c.status.passed]
    return {
        "pandera 0.35 validate(lazy=True)": theirs,
        "mlgate data gate (schema read from pandera YAML)": ours,
    }


if __name__ == "__main__":
    main()
