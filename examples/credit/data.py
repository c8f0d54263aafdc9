"""Deterministic synthetic credit-application data.

``generate(n, seed, drift)`` returns one row per loan application with the
model features, two sensitive attributes (``sex``, ``age_band``) and the
historical label ``default`` (1 = the applicant defaulted).

The label process is deliberately *biased*: on top of the "true" risk, which
depends only on the financial features, female applicants were recorded as
defaulting more often (think of harsher collection practice in the historical
portfolio).  Sex is not a model input, but income and credit-history length
act as proxies for it (female applicants have a lower average income and
shorter histories), so a model trained naively on this data predicts defaults
more often for women and makes errors at different rates for the two sexes.

``drift > 0`` produces a shifted population, proportionally to ``drift``:
incomes fall (log-income shifted by ``-0.25 * drift``), debt ratios rise
(``+0.15 * drift`` before clipping), the share of unemployed applicants grows
by ``0.20 * drift`` (taken from salaried, at most 0.56 so that 10 % stay
salaried) and the share of the ``north`` region grows by ``0.20 * drift``
(taken evenly from the others, at most 0.60 so that each keeps 5 %).  At
``drift=1`` every one of these four columns drifts clearly past the drift
gate's default thresholds.  The relation between features and label stays the
same (pure covariate shift).  The random draws do not depend on ``drift``, so
``age``, ``credit_history_years``, ``sex`` and ``age_band`` are the same for
every ``drift`` with the same ``seed``, and ``drift=0`` is the undrifted sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EMPLOYMENT_LEVELS = ("salaried", "self_employed", "unemployed", "retired")
REGION_LEVELS = ("north", "south", "east", "west")
SEX_LEVELS = ("female", "male")
AGE_BAND_LEVELS = ("under_30", "30_to_50", "over_50")

COLUMNS = (
    "applicant_id",
    "age",
    "income",
    "debt_ratio",
    "credit_history_years",
    "num_open_accounts",
    "employment",
    "region",
    "sex",
    "age_band",
    "default",
)

AGE_MIN, AGE_MAX = 18, 75
DEBT_RATIO_MAX = 1.5
MAX_DRIFT = 5.0
_ID_BLOCK = 10_000_000  # applicant ids of different seeds never collide

# Intercept of the label model, chosen so that about a quarter of the
# undrifted population defaults.
_LABEL_INTERCEPT = -2.2
# Extra log-odds of a recorded default for female applicants (historical bias).
_FEMALE_LABEL_BIAS = 0.8
# Lower mean log-income of female applicants: the proxy that carries the bias.
_FEMALE_INCOME_GAP = 0.45
# Categorical drift per unit of ``drift``, and its cap (reached at drift 2.8 and 3).
_UNEMPLOYED_SHIFT, _UNEMPLOYED_SHIFT_MAX = 0.20, 0.56  # taken from salaried (0.66)
_NORTH_SHIFT, _NORTH_SHIFT_MAX = 0.20, 0.60  # taken evenly from south, east and west (0.25 each)


def _age_band(age: np.ndarray) -> np.ndarray:
    return np.where(age < 30, "under_30", np.where(age <= 50, "30_to_50", "over_50"))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def generate(n: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    """Return ``n`` synthetic credit applications.

    The output depends only on ``(n, seed, drift)``.  ``applicant_id`` is
    unique within the frame (and across seeds for ``n < 10_000_000``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n >= _ID_BLOCK:
        raise ValueError(f"n must be < {_ID_BLOCK}, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    drift = float(drift)
    if not 0.0 <= drift <= MAX_DRIFT:
        raise ValueError(f"drift must be between 0 and {MAX_DRIFT}, got {drift}")

    rng = np.random.default_rng(seed)
    n = int(n)

    # Demographics ---------------------------------------------------------
    female = rng.random(n) < 0.5
    age = (AGE_MIN + np.floor(rng.beta(2.0, 3.2, n) * (AGE_MAX - AGE_MIN + 1))).astype(np.int64)
    age = np.clip(age, AGE_MIN, AGE_MAX)

    # Employment: retirement only from 55 on; drift moves salaried -> unemployed.
    unemployed_shift = min(_UNEMPLOYED_SHIFT * drift, _UNEMPLOYED_SHIFT_MAX)
    p_working = np.array([0.66 - unemployed_shift, 0.20, 0.14 + unemployed_shift])
    p_working = p_working / p_working.sum()
    working = rng.choice(3, size=n, p=p_working)
    p_retired = np.clip((age - 55) / 10.0, 0.0, 0.9)
    retired = rng.random(n) < p_retired
    emp_idx = np.where(retired, 3, working)
    employment = np.asarray(EMPLOYMENT_LEVELS, dtype=object)[emp_idx]

    north_shift = min(_NORTH_SHIFT * drift, _NORTH_SHIFT_MAX)
    p_region = np.array([0.25 + north_shift] + [0.25 - north_shift / 3] * 3)
    p_region = p_region / p_region.sum()
    region_idx = rng.choice(4, size=n, p=p_region)
    region = np.asarray(REGION_LEVELS, dtype=object)[region_idx]

    # Financials -------------------------------------------------------------
    emp_income = np.array([0.0, 0.05, -0.75, -0.30])[emp_idx]
    region_income = np.array([0.10, -0.12, 0.0, 0.04])[region_idx]
    log_income = (
        10.55
        + 0.012 * (age - 40)
        - 0.0004 * (age - 40) ** 2
        + emp_income
        + region_income
        - _FEMALE_INCOME_GAP * female  # income gap: the proxy that carries the label bias
        - 0.25 * drift
        + rng.normal(0.0, 0.42, n)
    )
    income = np.round(np.exp(log_income), 2)

    debt_ratio = rng.gamma(3.0, 0.12, n) + 0.10 * (emp_idx == 2) + 0.15 * drift
    debt_ratio = np.round(np.clip(debt_ratio, 0.0, DEBT_RATIO_MAX), 3)

    # Years since the first credit line; career breaks shorten women's histories.
    history_share = rng.beta(4.0, 2.0, n) * np.where(female, 0.75, 1.0)
    credit_history_years = np.round((age - AGE_MIN) * history_share, 1)

    num_open_accounts = rng.poisson(1.0 + 0.04 * (age - AGE_MIN) + 2.5 * debt_ratio).astype(np.int64)

    # Label -------------------------------------------------------------------
    true_risk = (
        _LABEL_INTERCEPT
        - 0.95 * (np.log(income) - 10.5)
        + 1.2 * debt_ratio
        + 3.0 * np.maximum(debt_ratio - 0.55, 0.0)  # risk accelerates past 55 %
        - 0.045 * credit_history_years
        + 0.18 * np.maximum(num_open_accounts - 4, 0)
        + np.array([0.0, 0.35, 0.9, -0.2])[emp_idx]
        + 0.7 * ((emp_idx == 2) & (debt_ratio > 0.5))
        + 0.5 * (age < 25)
        + np.array([-0.1, 0.25, 0.0, -0.05])[region_idx]
    )
    logit = true_risk + _FEMALE_LABEL_BIAS * female
    default = (rng.random(n) < _sigmoid(logit)).astype(np.int64)

    ids = seed * _ID_BLOCK + 100_000 + np.arange(n, dtype=np.int64)
    # Shuffle the ids so row order carries no information.
    ids = ids[rng.permutation(n)]

    frame = pd.DataFrame(
        {
            "applicant_id": ids,
            "age": age,
            "income": income,
            "debt_ratio": debt_ratio,
            "credit_history_years": credit_history_years,
            "num_open_accounts": num_open_accounts,
            "employment": employment,
            "region": region,
            "sex": np.where(female, "female", "male").astype(object),
            "age_band": _age_band(age).astype(object),
            "default": default,
        },
        columns=list(COLUMNS),
    )
    return frame
