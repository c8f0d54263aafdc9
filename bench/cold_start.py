"""Benchmark: cold start and the example project.

    python bench/cold_start.py [--repeats 15] [--example-repeats 3]

- `python -c pass` (the interpreter alone) against `mlgate --help` and `mlgate --version`: the command line
  imports its subcommands lazily, so help costs click and little else;
- `mlgate --policy examples/gates.yml run`: every gate of the example project (tests run by pytest, metrics,
  latency, bias, data, drift, security ...), reports into a temporary folder, pictures on.
Results: bench/results/cold_start.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, RESULTS, load, machine, measure, ratio_text, seconds_text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--example-repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "cold_start.md"))
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = load()
    base = measure("python -c pass", [sys.executable, "-c", "pass"], args.repeats)
    help_ = measure("mlgate --help", ["mlgate", "--help"], args.repeats)
    version = measure("mlgate --version", ["mlgate", "--version"], args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        example = measure(
            "mlgate run (example)",
            [
                "mlgate",
                "--policy",
                str(REPO / "examples" / "gates.yml"),
                "--report-dir",
                tmp,
                "--no-audit",
                "run",
            ],
            args.example_repeats,
            cwd=REPO,
        )
    load_after = load()
    lines = [
        "# Cold start and the example project",
        "",
        (
            f"{machine()}. Run {started}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"(1 min). Median of {args.repeats} runs (range), the example {args.example_repeats} runs. `mlgate` "
            "is the console script next to this interpreter; peak memory is each command's own."
        ),
        "",
        "| command | wall time, peak memory | against `python -c pass` |",
        "|---|---|---|",
    ]
    for m in (base, help_, version):
        ratio = ratio_text(m.median / base.median) if m.ok and base.ok else "–"
        lines.append(f"| `{m.label}` | {seconds_text(m)}, {m.peak_text} | {ratio} |")
    example_note = "" if example.ok else f" (exit code {example.runs[-1].code}: a gate failed or erred)"
    lines.append(
        f"| `mlgate --policy examples/gates.yml run` (every gate, pictures on) | "
        f"{seconds_text(example)}, {example.peak_text}{example_note} | – |"
    )
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "started": started,
                "load": [load_before, load_after],
                "peak": "the job's own resident high-water mark, MB (bench/common.py)",
                "results": {
                    m.label: [(r.seconds, r.peak_mb, r.code, r.peak_exact) for r in m.runs]
                    for m in (base, help_, version, example)
                },
            },
            indent=1,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
