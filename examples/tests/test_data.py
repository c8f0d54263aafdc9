"""Tests of the synthetic credit data generator."""

import numpy as np
import pandas as pd
import pytest

from examples.credit import data, features


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return data.generate(5000, seed=11)


def test_same_seed_gives_identical_frames():
    pd.testing.assert_frame_equal(data.generate(400, 7), data.generate(400, 7))


def test_different_seeds_give_different_frames():
    a, b = data.generate(400, 7), data.generate(400, 8)
    assert not np.allclose(a["income"], b["income"])


def test_drift_zero_is_the_default():
    pd.testing.assert_frame_equal(data.generate(300, 5), data.generate(300, 5, drift=0.0))


def test_columns_and_dtypes(sample):
    assert list(sample.columns) == list(data.COLUMNS)
    assert len(sample) == 5000
    for column in ("applicant_id", "age", "num_open_accounts", "default"):
        assert pd.api.types.is_integer_dtype(sample[column]), column
    for column in ("income", "debt_ratio", "credit_history_years"):
        assert pd.api.types.is_float_dtype(sample[column]), column


def test_applicant_ids_are_unique_and_seed_specific(sample):
    assert sample["applicant_id"].is_unique
    other = data.generate(5000, seed=12)
    assert not set(sample["applicant_id"]) & set(other["applicant_id"])


def test_numeric_ranges(sample):
    assert sample["age"].between(18, 75).all()
    assert (sample["income"] > 0).all()
    assert sample["debt_ratio"].between(0.0, 1.5).all()
    assert (sample["credit_history_years"] >= 0).all()
    assert (sample["credit_history_years"] <= sample["age"] - 18).all()
    assert (sample["num_open_accounts"] >= 0).all()


def test_income_is_right_skewed(sample):
    assert sample["income"].mean() > sample["income"].median()
    log_income = np.log(sample["income"])
    assert abs(log_income.skew()) < 0.5  # roughly lognormal


def test_categorical_levels(sample):
    assert set(sample["employment"]) == set(data.EMPLOYMENT_LEVELS)
    assert set(sample["region"]) == set(data.REGION_LEVELS)
    assert set(sample["sex"]) == set(data.SEX_LEVELS)
    assert set(sample["age_band"]) == set(data.AGE_BAND_LEVELS)


def test_retirement_only_from_55(sample):
    assert (sample.loc[sample["employment"] == "retired", "age"] >= 55).all()


def test_age_band_matches_age(sample):
    expected = pd.cut(sample["age"], [17, 29, 50, 75], labels=["under_30", "30_to_50", "over_50"])
    assert (sample["age_band"] == expected.astype(str)).all()


def test_label_is_binary_with_a_realistic_rate(sample):
    assert set(sample["default"]) == {0, 1}
    assert 0.2 <= sample["default"].mean() <= 0.3


def test_historical_bias_against_female_applicants(sample):
    rates = sample.groupby("sex")["default"].mean()
    assert rates["female"] - rates["male"] > 0.1
    # ... and a proxy the model can see: lower incomes.
    incomes = sample.groupby("sex")["income"].median()
    assert incomes["female"] < 0.8 * incomes["male"]


def test_generated_data_passes_feature_validation(sample):
    features.validate(sample, require_label=True)


def test_drift_moves_the_means():
    base = data.generate(4000, seed=3)
    half = data.generate(4000, seed=3, drift=0.5)
    full = data.generate(4000, seed=3, drift=1.0)
    assert base["income"].mean() > half["income"].mean() > full["income"].mean()
    assert full["income"].mean() < 0.85 * base["income"].mean()
    assert base["debt_ratio"].mean() < half["debt_ratio"].mean() < full["debt_ratio"].mean()
    assert full["debt_ratio"].mean() - base["debt_ratio"].mean() > 0.1

    def share(frame, column, level):
        return (frame[column] == level).mean()

    assert share(full, "employment", "unemployed") > share(base, "employment", "unemployed") + 0.15
    assert share(full, "region", "north") > share(base, "region", "north") + 0.15
    # Features that are not drifted keep their values: the random draws do not depend on drift.
    for column in ("age", "credit_history_years", "sex", "age_band"):
        pd.testing.assert_series_equal(base[column], full[column])


def test_categorical_drift_is_capped():
    frame = data.generate(4000, seed=7, drift=data.MAX_DRIFT)
    assert (frame["employment"] == "salaried").mean() > 0.05
    for region in ("south", "east", "west"):
        assert (frame["region"] == region).mean() > 0.02


def test_drifted_data_stays_in_valid_ranges():
    frame = data.generate(2000, seed=4, drift=data.MAX_DRIFT)
    features.validate(frame, require_label=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0, "seed": 1},
        {"n": -5, "seed": 1},
        {"n": 2.5, "seed": 1},
        {"n": True, "seed": 1},
        {"n": 10, "seed": -1},
        {"n": 10, "seed": 1, "drift": -0.1},
        {"n": 10, "seed": 1, "drift": 99},
    ],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        data.generate(**kwargs)
