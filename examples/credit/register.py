"""Register the example credit models in an MLflow registry, as a team would before `mlgate registry`.

    python -m examples.credit.register --tracking-uri sqlite:///mlflow.db

Version 1 is the production model's kind (a logistic regression on the four raw numeric inputs) and gets the
alias `champion`; version 2 uses every input and gets `challenger`. Then `mlgate registry evaluate --model
credit --data eval.csv` compares them and `mlgate registry promote` moves `champion` when the gates pass.
Both are scikit-learn pipelines logged with mlflow.sklearn in skops format with `predict_proba` as the pyfunc
function, the only flavour mlgate scores (see docs/how-to/registry.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from examples.credit import data, features

NUMERIC = features.NUMERIC_FEATURES
CATEGORICAL = list(features.CATEGORICAL_FEATURES)
WEAK = ["age", "income", "debt_ratio", "num_open_accounts"]  # what the production model (version 1) reads


def pipeline(columns: list[str]) -> Any:
    """Scaling and one-hot encoding inside the model, so the registry version scores raw evaluation rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in columns if c in NUMERIC]
    categorical = [c for c in columns if c in CATEGORICAL]
    parts = [("numeric", StandardScaler(), numeric)]
    if categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    return make_pipeline(ColumnTransformer(parts), LogisticRegression(max_iter=1000))


def register_credit_models(
    tracking_uri: str, artifacts: Path | None = None, name: str = "credit", aliases: bool = False
) -> dict[str, str]:
    """Register version 1 (weak) and 2 (strong) of `name`; returns {"weak": "1", "strong": "2"}.

    `artifacts`: where a store without a server keeps the files (else MLflow writes ./mlruns in the working
    folder); a server keeps them under its --artifacts-destination. `aliases`: point `champion` at the weak
    version and `challenger` at the strong one."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    train = data.generate(4000, 1)
    for column in ("age", "num_open_accounts"):
        train[column] = train[column].astype("float64")  # the signature must accept what a CSV holds
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    location = artifacts.as_uri() if artifacts else None
    experiment = client.create_experiment(f"{name}-training", artifact_location=location)
    versions = {}
    for label, columns in (("weak", WEAK), ("strong", NUMERIC + CATEGORICAL)):
        model = pipeline(columns).fit(train[columns], train["default"])
        signature = infer_signature(train[columns].head(100), model.predict_proba(train[columns].head(100)))
        with mlflow.start_run(run_name=label, experiment_id=experiment):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                pyfunc_predict_fn="predict_proba",
                pip_requirements=["scikit-learn", "skops"],
                registered_model_name=name,
            )
        versions[label] = str(info.registered_model_version)
    if aliases:
        client.set_registered_model_alias(name, "champion", versions["weak"])
        client.set_registered_model_alias(name, "challenger", versions["strong"])
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument(
        "--artifacts", type=Path, default=Path("mlruns"), help="artifact folder (file stores)"
    )
    parser.add_argument(
        "--eval", type=Path, default=Path("eval.csv"), help="where to write an evaluation table"
    )
    args = parser.parse_args()
    artifacts = None if args.tracking_uri.startswith("http") else args.artifacts.resolve()
    versions = register_credit_models(args.tracking_uri, artifacts, aliases=True)
    data.generate(1500, 2).to_csv(args.eval, index=False)
    print(
        f"credit: champion = version {versions['weak']}, challenger = version {versions['strong']}; {args.eval}"
    )


if __name__ == "__main__":
    main()
