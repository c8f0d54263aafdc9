"""Tests of the feature engineering shared by training and serving."""

import numpy as np
import pandas as pd
import pytest

from examples.credit import data, features


def applicant(**overrides) -> dict:
    row = {
        "age": 41,
        "income": 38250.5,
        "debt_ratio": 0.42,
        "credit_history_years": 12.5,
        "num_open_accounts": 3,
        "employment": "salaried",
        "region": "east",
    }
    row.update(overrides)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows) or [applicant()])


def test_sensitive_columns_are_not_model_inputs():
    for column in features.SENSITIVE_FEATURES + [features.LABEL, features.ID_COLUMN]:
        assert column not in features.FEATURES
        assert not any(name.startswith(column) for name in features.feature_names())


def test_feature_names_have_a_fixed_order():
    assert features.feature_names() == [
        "age",
        "income",
        "debt_ratio",
        "credit_history_years",
        "num_open_accounts",
        "employment_salaried",
        "employment_self_employed",
        "employment_unemployed",
        "employment_retired",
        "region_north",
        "region_south",
        "region_east",
        "region_west",
    ]


def test_to_matrix_values():
    matrix = features.to_matrix(frame(applicant(), applicant(employment="retired", region="west", age=70)))
    names = features.feature_names()
    assert matrix.shape == (2, len(names))
    assert matrix.dtype == np.float64
    first = dict(zip(names, matrix[0]))
    assert first["age"] == 41 and first["income"] == 38250.5 and first["debt_ratio"] == 0.42
    assert first["employment_salaried"] == 1 and first["region_east"] == 1
    second = dict(zip(names, matrix[1]))
    assert second["employment_retired"] == 1 and second["region_west"] == 1
    assert second["employment_salaried"] == 0 and second["region_east"] == 0


def test_one_hot_blocks_sum_to_one_on_generated_data():
    sample = data.generate(1000, seed=21)
    matrix = features.to_matrix(sample)
    names = features.feature_names()
    for column, levels in features.CATEGORICAL_FEATURES.items():
        idx = [names.index(f"{column}_{level}") for level in levels]
        assert np.array_equal(matrix[:, idx].sum(axis=1), np.ones(len(sample)))
        # the encoded level is the observed one
        decoded = np.asarray(levels)[matrix[:, idx].argmax(axis=1)]
        assert (decoded == sample[column].to_numpy()).all()


def test_to_matrix_ignores_column_order_and_extra_columns():
    sample = data.generate(200, seed=22)
    shuffled = sample[list(reversed(sample.columns))]
    assert np.array_equal(features.to_matrix(sample), features.to_matrix(shuffled))
    assert np.array_equal(features.to_matrix(sample), features.to_matrix(sample[features.FEATURES]))


def test_to_matrix_does_not_depend_on_sensitive_attributes():
    sample = data.generate(200, seed=23)
    flipped = sample.assign(sex=np.where(sample["sex"] == "female", "male", "female"))
    assert np.array_equal(features.to_matrix(sample), features.to_matrix(flipped))


def test_categorical_dtype_input_is_encoded_like_strings():
    plain = frame(applicant(), applicant(employment="unemployed", region="north"))
    categorical = plain.astype({"employment": "category", "region": "category"})
    assert np.array_equal(features.to_matrix(plain), features.to_matrix(categorical))


@pytest.mark.parametrize(
    ("overrides", "column"),
    [
        ({"age": 17}, "age"),
        ({"age": 76}, "age"),
        ({"age": 30.5}, "age"),
        ({"income": -1.0}, "income"),
        ({"income": np.nan}, "income"),
        ({"income": "lots"}, "income"),
        ({"debt_ratio": 1.6}, "debt_ratio"),
        ({"credit_history_years": -0.5}, "credit_history_years"),
        ({"num_open_accounts": 2.5}, "num_open_accounts"),
        ({"num_open_accounts": -1}, "num_open_accounts"),
        ({"employment": "student"}, "employment"),
        ({"employment": None}, "employment"),
        ({"region": "NORTH"}, "region"),
    ],
)
def test_validation_errors_name_the_column(overrides, column):
    bad = frame(applicant(), applicant(**overrides))
    with pytest.raises(ValueError, match=column):
        features.validate(bad)
    with pytest.raises(ValueError, match=column):
        features.to_matrix(bad)


@pytest.mark.parametrize("column", features.FEATURES)
def test_missing_column_is_reported(column):
    with pytest.raises(ValueError, match=f"missing required column.*{column}"):
        features.validate(frame().drop(columns=[column]))


def test_boolean_column_is_not_numeric():
    with pytest.raises(ValueError, match="num_open_accounts"):
        features.validate(frame().assign(num_open_accounts=True))


def test_label_validation():
    good = frame(applicant(), applicant()).assign(default=[0, 1])
    features.validate(good, require_label=True)
    with pytest.raises(ValueError, match="missing required column.*default"):
        features.validate(frame(), require_label=True)
    with pytest.raises(ValueError, match="default"):
        features.validate(good.assign(default=[0, 2]), require_label=True)


def test_validate_rejects_non_frames():
    with pytest.raises(TypeError):
        features.validate([applicant()])


def test_to_matrix_can_skip_validation():
    bad = frame(applicant(age=17))
    assert features.to_matrix(bad, check=False)[0, 0] == 17


def test_from_records_builds_a_valid_frame():
    records = [applicant(), applicant(age=25, employment="self_employed", sex="female")]
    result = features.from_records(records)
    assert list(result.columns) == features.FEATURES
    assert np.array_equal(features.to_matrix(result), features.to_matrix(frame(*records)))


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "no records"),
        (["not a record"], "record 0"),
        ([applicant(), {"age": 30}], "record 1: missing required column"),
        ([applicant(income="40000")], "income"),
        ([applicant(age=True)], "age"),
        ([applicant(debt_ratio=float("nan"))], "debt_ratio"),
        ([applicant(region="atlantis")], "region"),
    ],
)
def test_from_records_rejects_bad_input(records, message):
    with pytest.raises(ValueError, match=message):
        features.from_records(records)
