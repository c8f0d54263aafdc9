"""Regenerate the checked-in suite fixtures with the real libraries (great_expectations 1.24.1, pandera 0.35.0).

Run: /tmp/dev/bin/python tests/data/suites/make_fixtures.py  (the tests also build suites at runtime; these
files pin what those versions wrote, so a later library release cannot silently change the format under test).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ge_suite() -> dict:
    """An expectation suite as GE 1.x ExpectationSuite.to_json_dict() writes it, with supported expectations
    and a few the data gate cannot run (they must be listed, never skipped)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name="loans")
    for expectation in (
        gxe.ExpectColumnToExist(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=18, max_value=99, mostly=0.95),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=r"^[^@\s]+@[^@\s]+$"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="email", min_value=3, max_value=254),
        gxe.ExpectColumnValuesToBeInSet(column="sex", value_set=["female", "male"]),
        gxe.ExpectColumnMeanToBeBetween(column="income", min_value=1000, max_value=100000),
        gxe.ExpectColumnStdevToBeBetween(column="income", max_value=50000),
        gxe.ExpectColumnQuantileValuesToBeBetween(
            column="age", quantile_ranges={"quantiles": [0.5, 0.9], "value_ranges": [[25, 60], [None, 90]]}
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end", column_B="start", or_equal=True),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "start"]),
        gxe.ExpectTableRowCountToBeBetween(min_value=10, max_value=100000),
        gxe.ExpectColumnValuesToBeIncreasing(column="start", severity="warning"),
        gxe.ExpectColumnKLDivergenceToBeLessThan(
            column="age", partition_object={"bins": [0, 50, 100], "weights": [0.5, 0.5]}, threshold=0.1
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="income", min_value=0, row_condition='sex=="female"', condition_parser="pandas"
        ),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="email", strftime_format="%Y"),
    ):
        suite.add_expectation(expectation)
    return suite.to_json_dict()


def pandera_schema():
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "id": pa.Column(int, pa.Check.ge(0), unique=True),
            "age": pa.Column(int, [pa.Check.in_range(18, 99), pa.Check.le(120)]),
            "email": pa.Column(
                str, [pa.Check.str_matches(r"[^@\s]+@"), pa.Check.str_length(3, 254)], nullable=True
            ),
            "sex": pa.Column(str, pa.Check.isin(["female", "male"])),
            "income": pa.Column(float, [pa.Check.gt(0), pa.Check.lt(1e6, raise_warning=True)], coerce=True),
            "start": pa.Column("datetime64[ns]"),
            "end": pa.Column("datetime64[ns]", required=False),
            "group": pa.Column(str, pa.Check.str_startswith("g"), nullable=True, required=False),
        },
        unique=["id", "start"],
        strict=True,
        name="loans",
    )


def main() -> None:
    import great_expectations
    import pandera

    (HERE / f"ge-{great_expectations.__version__}-loans.json").write_text(
        json.dumps(ge_suite(), indent=2) + "\n"
    )
    schema = pandera_schema()
    (HERE / f"pandera-{pandera.__version__}-loans.yml").write_text(schema.to_yaml())
    (HERE / f"pandera-{pandera.__version__}-loans-full.json").write_text(
        schema.to_json(minimal=False, indent=2)
    )


if __name__ == "__main__":
    main()
