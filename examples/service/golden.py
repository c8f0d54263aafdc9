"""Write ``golden.jsonl``: inputs and the expected outputs of the example model, for post-deploy validation.

    python -m examples.service.golden --out examples/service/golden.jsonl

One JSON object per line: ``name``, ``input`` (a record for ``POST /predict``), ``expected`` (``score``
and ``prediction``) and ``tolerance`` (absolute, per numeric key). ``mlgate validate-deployment`` sends each
input and compares the answer. The rows are a fixed sample of the test set (seed 2), chosen to cover every
employment level and region and both predicted classes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

GOLDEN_PATH = Path(__file__).with_name("golden.jsonl")
SCORE_TOLERANCE = 1e-4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the golden predictions of the example model.")
    parser.add_argument("--out", default=str(GOLDEN_PATH))
    parser.add_argument("--rows", type=int, default=24)
    args = parser.parse_args(argv)

    from examples.credit import data, features
    from examples.service.app import DEFAULT_MODEL
    from examples.service.model import load_model

    frame = data.generate(3000, seed=2)
    model = load_model(DEFAULT_MODEL)
    scores = model.predict_proba(features.to_matrix(frame))
    frame = frame.assign(score=scores)
    # both classes, every level: the highest-scored rows per employment level, then a spread of the rest
    chosen = list(frame.sort_values("score", ascending=False).groupby("employment").head(2).index)
    chosen += list(frame.groupby("region").head(2).index)
    chosen += [i for i in frame.index[:: max(1, len(frame) // args.rows)] if i not in chosen]
    chosen = list(dict.fromkeys(chosen))[: args.rows]
    lines = []
    for position, index in enumerate(chosen):
        row = frame.loc[index]
        record = {c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in features.FEATURES}
        score = float(row["score"])
        lines.append(
            json.dumps(
                {
                    "name": f"applicant-{int(row[features.ID_COLUMN])}",
                    "input": record,
                    "expected": {"score": round(score, 6), "prediction": int(score >= 0.5)},
                    "tolerance": {"score": SCORE_TOLERANCE},
                },
                sort_keys=True,
            )
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
