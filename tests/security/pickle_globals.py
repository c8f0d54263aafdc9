"""Collect the exact globals that scikit-learn, numpy, scipy, pandas, joblib and torch write into their pickles.

The artifact scanner's allow list is data, not a guess: this module pickles a broad set of the libraries' own
ordinary objects (fitted estimators of every common family, pipelines, transformers, DataFrames of every dtype,
arrays of every dtype, sparse matrices, random generators, torch state dicts) with every pickle protocol and with
joblib, and records each (module, name) the pickles import. `tests/security/test_known_globals.py` re-collects
from the installed libraries and fails when something ordinary is missing from the list.

Regenerate gates/security/known_globals.json (run from the repository root):

    python -m tests.security.pickle_globals --write
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gates.security.pickle_walk import walk

KNOWN = Path(__file__).resolve().parents[2] / "gates" / "security" / "known_globals.json"


def _estimators() -> Iterator[Any]:
    import numpy as np
    from sklearn import (
        calibration,
        cluster,
        compose,
        decomposition,
        discriminant_analysis,
        ensemble,
        feature_extraction,
        impute,
        isotonic,
        kernel_approximation,
        linear_model,
        mixture,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        svm,
        tree,
    )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + rng.normal(size=60) > 0).astype(int)
    y3 = np.digitize(x[:, 1], [-0.5, 0.5])
    reg = x @ [1.0, 2.0, 0.0, -1.0]
    classifiers = [
        linear_model.LogisticRegression(),
        linear_model.SGDClassifier(random_state=0),
        linear_model.RidgeClassifier(),
        linear_model.Perceptron(),
        svm.SVC(probability=True, random_state=0),
        svm.LinearSVC(),
        neighbors.KNeighborsClassifier(),
        naive_bayes.GaussianNB(),
        naive_bayes.BernoulliNB(),
        tree.DecisionTreeClassifier(random_state=0),
        ensemble.RandomForestClassifier(n_estimators=3, random_state=0),
        ensemble.ExtraTreesClassifier(n_estimators=3, random_state=0),
        ensemble.GradientBoostingClassifier(n_estimators=3, random_state=0),
        ensemble.HistGradientBoostingClassifier(max_iter=3),
        ensemble.AdaBoostClassifier(n_estimators=3, random_state=0),
        ensemble.BaggingClassifier(n_estimators=3, random_state=0),
        ensemble.VotingClassifier(
            [("a", linear_model.LogisticRegression()), ("b", naive_bayes.GaussianNB())]
        ),
        ensemble.StackingClassifier([("a", naive_bayes.GaussianNB())], cv=2),
        neural_network.MLPClassifier(max_iter=20, random_state=0),
        discriminant_analysis.LinearDiscriminantAnalysis(),
        calibration.CalibratedClassifierCV(naive_bayes.GaussianNB(), cv=2),
        ensemble.IsolationForest(n_estimators=3, random_state=np.random.RandomState(0)),
        pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
    ]
    for model in classifiers:
        yield model.fit(x, y)
    yield linear_model.LogisticRegression().fit(x, y3)
    for model in (
        linear_model.LinearRegression(),
        linear_model.Ridge(),
        linear_model.Lasso(),
        linear_model.ElasticNet(),
        svm.SVR(),
        neighbors.KNeighborsRegressor(),
        tree.DecisionTreeRegressor(random_state=0),
        ensemble.RandomForestRegressor(n_estimators=3, random_state=0),
        ensemble.GradientBoostingRegressor(n_estimators=3, random_state=0),
        ensemble.HistGradientBoostingRegressor(max_iter=3),
        neural_network.MLPRegressor(max_iter=20, random_state=0),
        isotonic.IsotonicRegression(),
    ):
        yield model.fit(x[:, :1] if isinstance(model, isotonic.IsotonicRegression) else x, reg)
    for transformer in (
        preprocessing.StandardScaler(),
        preprocessing.MinMaxScaler(),
        preprocessing.RobustScaler(),
        preprocessing.QuantileTransformer(n_quantiles=10),
        preprocessing.PowerTransformer(),
        preprocessing.PolynomialFeatures(),
        preprocessing.SplineTransformer(),
        preprocessing.KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"),
        preprocessing.FunctionTransformer(np.log1p),
        preprocessing.FunctionTransformer(np.abs),
        impute.SimpleImputer(),
        impute.KNNImputer(),
        decomposition.PCA(n_components=2),
        decomposition.TruncatedSVD(n_components=2),
        kernel_approximation.Nystroem(n_components=5),
        cluster.KMeans(n_clusters=2, n_init=1, random_state=0),
        cluster.MiniBatchKMeans(n_clusters=2, n_init=1, random_state=0),
        mixture.GaussianMixture(n_components=2, random_state=0),
        neighbors.NearestNeighbors(),
    ):
        yield transformer.fit(x)
    yield decomposition.NMF(n_components=2, max_iter=20).fit(np.abs(x))
    words = ["a cat", "the dog", "a bird sings", "dog and cat"] * 3
    yield feature_extraction.text.TfidfVectorizer().fit(words)
    yield feature_extraction.text.CountVectorizer().fit(words)
    yield preprocessing.LabelEncoder().fit(["a", "b", "c"])
    yield preprocessing.TargetEncoder().fit(np.array([["a"], ["b"]] * 10), np.arange(20) % 2)
    frame = _frame()
    column = compose.ColumnTransformer(
        [
            ("num", preprocessing.StandardScaler(), ["x"]),
            ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["c"]),
            ("ord", preprocessing.OrdinalEncoder(), ["s"]),
        ]
    )
    yield pipeline.Pipeline(
        [("prep", column), ("model", ensemble.HistGradientBoostingClassifier(max_iter=3))]
    ).fit(frame[["x", "c", "s"]], frame["y"])


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    n = 12
    return pd.DataFrame(
        {
            "x": np.linspace(0, 1, n),
            "i": np.arange(n),
            "y": np.arange(n) % 2,
            "b": np.arange(n) % 3 == 0,
            "c": pd.Categorical(list("abc") * 4),
            "s": list("xyzw") * 3,
            "o": pd.Series([1, "a", None] * 4, dtype=object),
            "str": pd.array(list("pq") * 6, dtype="string"),
            "int": pd.array(list(range(n - 1)) + [None], dtype="Int64"),
            "flt": pd.array([0.5] * (n - 1) + [None], dtype="Float64"),
            "boo": pd.array([True, False, None] * 4, dtype="boolean"),
            "t": pd.date_range("2024-01-01", periods=n),
            "tz": pd.date_range("2024-01-01", periods=n, tz="UTC"),
            "td": pd.to_timedelta(np.arange(n), unit="s"),
            "p": pd.period_range("2024-01", periods=n, freq="M"),
            "iv": pd.interval_range(0, n),
            "sp": pd.arrays.SparseArray([0, 1] * 6),
        }
    )


def _data() -> Iterator[Any]:
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    codes = "?bhilqpBHILQPefdgFDGSUVOMm"
    for code in codes:
        dtype = (
            np.dtype(code + ("8" if code in "SUV" else "")) if code not in "Mm" else np.dtype(code + "8[s]")
        )
        array = np.zeros(3, dtype=dtype)
        yield array
        yield array[0]
    yield np.zeros(2, dtype=[("a", "<i4"), ("b", "O"), ("c", "f8", (2,))])
    yield np.ma.masked_array([1, 2], mask=[0, 1])
    yield np.zeros((2, 2), order="F")
    yield np.recarray(2, dtype=[("a", "i4")])
    yield np.dtypes.StringDType()
    yield np.array(["a", "bc"], dtype=np.dtypes.StringDType())
    for make in (np.random.PCG64, np.random.MT19937, np.random.Philox, np.random.SFC64, np.random.PCG64DXSM):
        yield np.random.Generator(make(0))
    yield np.random.RandomState(0)
    yield np.random.SeedSequence(0)
    yield np.random.default_rng(0)
    dense = np.eye(3)
    for fmt in ("csr", "csc", "coo", "lil", "dok", "bsr", "dia"):
        yield sp.csr_matrix(dense).asformat(fmt)
        yield sp.csr_array(dense).asformat(fmt)
    frame = _frame()
    yield frame
    yield frame["x"]
    yield frame.set_index(["s", "c"])
    yield pd.Timestamp("2024-01-01")
    yield pd.Timedelta(1, "s")
    yield pd.Period("2024-01", freq="M")
    yield pd.Series([1, 2], index=pd.DatetimeIndex(["2024-01-01", "2024-01-02"]))
    yield pd.Series([1.0], index=pd.Index([1.5]))
    yield pd.DataFrame({"a": [1]}).convert_dtypes(dtype_backend="pyarrow")
    for freq in ("D", "h", "min", "s", "ms", "W", "MS", "ME", "QE", "YE", "B"):
        yield pd.Series([1, 2], index=pd.date_range("2024-01-01", periods=2, freq=freq))
    for name in dir(np):  # every ufunc, as FunctionTransformer(numpy.log1p) pickles it
        if isinstance(getattr(np, name), np.ufunc):
            yield getattr(np, name)


def _torch() -> Iterator[bytes]:
    """torch.save of ordinary weights (a state dict of every common dtype); nothing if torch is absent."""
    try:
        import torch
    except ImportError:
        return
    tensors = {
        str(dtype): torch.zeros(2, dtype=dtype)
        for dtype in (
            torch.float32,
            torch.float64,
            torch.float16,
            torch.bfloat16,
            torch.int64,
            torch.int32,
            torch.int16,
            torch.int8,
            torch.uint8,
            torch.bool,
            torch.complex64,
        )
    }
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    for obj in (tensors, model.state_dict()):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        yield buffer.getvalue()
        legacy = io.BytesIO()
        torch.save(obj, legacy, _use_new_zipfile_serialization=False)
        yield legacy.getvalue()


def _streams() -> Iterator[bytes]:
    """Every stream the libraries write for the objects above: pickle protocols 2-5 and joblib."""
    import joblib

    for obj in (*_estimators(), *_data()):
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            yield pickle.dumps(obj, protocol=protocol)
        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        yield buffer.getvalue()


def collect() -> set[tuple[str, str]]:
    """Every (module, name) the installed libraries write for their ordinary objects."""
    import zipfile

    found: set[tuple[str, str]] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streams = list(_streams())
        for saved in _torch():
            if saved.startswith(b"PK"):
                with zipfile.ZipFile(io.BytesIO(saved)) as archive:
                    streams += [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
            else:
                streams.append(saved)
    for stream in streams:
        for joblib_layout in (False, True):
            walked = walk(stream, joblib=joblib_layout)
            found |= {(m, n) for m, n, _ in walked.globals}
    return found


def load_known() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(KNOWN.read_text(encoding="utf-8"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="merge what is collected into known_globals.json"
    )
    args = parser.parse_args()
    collected = sorted(f"{m}:{n}" for m, n in collect())
    if not args.write:
        print("\n".join(collected))
        return
    known = load_known() if KNOWN.exists() else {"collected": [], "added": {}}
    known["collected"] = sorted(set(known.get("collected", [])) | set(collected))
    KNOWN.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{KNOWN}: {len(known['collected'])} collected names")


if __name__ == "__main__":
    main()
