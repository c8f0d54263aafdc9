"""Shared pieces of the benchmarks: data generation (cached outside the repository), measuring one command in
its own process (wall time and peak resident memory), machine load, and Markdown tables.

Every measured thing runs in a fresh subprocess, so imports, reading and peak memory are counted the same way
for mlgate and for its peers. Wall time is measured around the process. Peak memory is the job's own
resident high-water mark, reported by the job: every measured command here is a Python process, and
bench/peak_hook/sitecustomize.py (put on its PYTHONPATH) writes at exit its VmHWM from /proc/self/status and
the largest ru_maxrss of its waited-for children, of which the larger is the peak (the largest single process
of the job's tree). The parent's `ru_maxrss` from os.wait4 is not used: on Linux a process keeps, across
exec, the high-water mark of the memory it replaced, which for a new child is (a copy of) the parent's, so
every job would show at least the benchmark runner's own size. A job that leaves no report (not Python,
killed, or ended by os._exit) falls back to that ru_maxrss, which is then an upper bound: Run.peak_exact is
False and the tables print "<=".
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PEAK_HOOK = Path(__file__).resolve().parent / "peak_hook"
CACHE = Path(os.environ.get("MLGATE_BENCH_CACHE", Path.home() / ".cache" / "mlgate" / "bench"))
RESULTS = Path(__file__).resolve().parent / "results"
# installed packages carry compiled bytecode; the measured jobs get theirs in the bench cache, not the tree
BYTECODE = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}
REGRESSION = 1.25  # a quick mode fails when a ratio grows past this factor of the stored one
EVIDENTLY_PYTHON = Path(
    os.environ.get(
        "MLGATE_EVIDENTLY_PYTHON", Path.home() / ".cache" / "mlgate" / "evidently-venv" / "bin" / "python"
    )
)

SEXES = ["female", "male"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


# ------------------------------------------------------------------------------------------------- data
def predictions_file(rows: int, seed: int = 0) -> Path:
    """Binary predictions with two sensitive features (2 x 6 = 12 intersectional groups), as Parquet.

    Columns: label (0/1), score (continuous float64, essentially every value distinct), prediction
    (score >= 0.5), sex and age_band (strings). Base rates and score shifts differ by group, so the group
    metrics and disparities are not trivial.
    """
    path = CACHE / f"predictions-{rows}-{seed}.parquet"
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = None
    tmp = path.with_suffix(".tmp")
    chunk = 1_000_000
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            sex = rng.choice(2, size=n, p=[0.46, 0.54])
            band = rng.choice(6, size=n, p=[0.12, 0.22, 0.21, 0.19, 0.15, 0.11])
            base = 0.18 + 0.06 * sex + 0.03 * (band == 0) + 0.02 * (band == 5)
            label = (rng.random(n) < base).astype(np.int8)
            logit = -1.6 + 2.2 * label + 0.25 * sex - 0.05 * band + rng.normal(0, 1.1, n)
            score = 1 / (1 + np.exp(-logit))
            table = pa.table(
                {
                    "label": label,
                    "score": score,
                    "prediction": (score >= 0.5).astype(np.int8),
                    "sex": pa.DictionaryArray.from_arrays(sex.astype(np.int8), SEXES).cast(pa.string()),
                    "age_band": pa.DictionaryArray.from_arrays(band.astype(np.int8), AGE_BANDS).cast(
                        pa.string()
                    ),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=chunk)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path


def drift_files(rows: int, seed: int = 0, numeric: int = 80, categorical: int = 20) -> tuple[Path, Path]:
    """Reference and current tables of `numeric` float columns and `categorical` string columns (Parquet).

    Numeric columns mix normal, lognormal, uniform, exponential and integer-valued data; categorical ones have
    3 to 40 categories with skewed shares. In the current table every tenth column is shifted (mean, scale
    or category shares), the rest come from the same distribution.
    """
    ref_path = CACHE / f"drift-ref-{rows}-{numeric}-{categorical}-{seed}.parquet"
    cur_path = CACHE / f"drift-cur-{rows}-{numeric}-{categorical}-{seed}.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    import pyarrow as pa
    import pyarrow.parquet as pq

    CACHE.mkdir(parents=True, exist_ok=True)
    for path, shifted, offset in ((ref_path, False, 0), (cur_path, True, 1)):
        rng = np.random.default_rng(seed * 1000 + offset)
        columns = {}
        for j in range(numeric):
            drift = shifted and j % 10 == 3
            kind = j % 5
            if kind == 0:
                values = rng.normal(0.3 if drift else 0.0, 1.0, rows)
            elif kind == 1:
                values = rng.lognormal(0.0, 0.8 if not drift else 1.0, rows)
            elif kind == 2:
                values = rng.uniform(0, 1.2 if drift else 1.0, rows)
            elif kind == 3:
                values = rng.exponential(1.3 if drift else 1.0, rows)
            else:
                values = rng.poisson(12 if drift else 10, rows).astype(np.float64)
            columns[f"num_{j:02d}"] = values
        for j in range(categorical):
            drift = shifted and j % 10 == 3
            k = 3 + (j * 7) % 38
            weights = 1.0 / np.arange(1, k + 1) ** 0.8
            if drift:
                weights = weights[::-1]
            codes = rng.choice(k, size=rows, p=weights / weights.sum()).astype(np.int16)
            names = [f"c{j}_{i}" for i in range(k)]
            columns[f"cat_{j:02d}"] = pa.DictionaryArray.from_arrays(codes, names).cast(pa.string())
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table(columns), tmp, row_group_size=min(rows, 1_000_000))
        tmp.replace(path)
    return ref_path, cur_path


# --------------------------------------------------------------------------------------------- measuring
@dataclass
class Run:
    seconds: float
    peak_mb: float
    code: int
    stdout: str = ""
    stderr: str = ""
    peak_exact: bool = True  # False: no report from the job, peak_mb is wait4's ru_maxrss (an upper bound)
    cpu_seconds: float = 0.0  # user + system time of the job and the children it waited for (os.wait4)


@dataclass
class Measurement:
    label: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.code == 0 for r in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def spread(self) -> tuple[float, float]:
        return min(r.seconds for r in self.runs), max(r.seconds for r in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(r.peak_mb for r in self.runs)

    @property
    def peak_text(self) -> str:
        """The peak in MB, as "<= N MB" when a run left no report of its own (see the module docstring)."""
        bound = "" if all(r.peak_exact for r in self.runs) else "<= "
        return f"{bound}{self.peak_mb:.0f} MB"


def resolve(argv: list[str]) -> list[str]:
    """`mlgate` is the console script installed next to this interpreter when there is one, not whatever
    PATH finds first (a pyenv shim, for one, adds two bash processes and ~50 ms to every call)."""
    if argv and argv[0] == "mlgate":
        script = Path(sys.executable).parent / "mlgate"
        if script.is_file():
            return [str(script), *argv[1:]]
    return argv


def job_peak_kb(report: Path) -> int | None:
    """The largest resident high-water mark (kB) in the job's process tree, as its peak hook wrote it."""
    try:
        own, children = (int(x) for x in report.read_text().split())
    except (OSError, ValueError):
        return None
    return max(own, children)


def run_once(
    argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None, cwd: Path | None = None
) -> Run:
    """Run argv in a new process: wall seconds and the job's own peak resident memory (see the module
    docstring; falls back to os.wait4's ru_maxrss, an upper bound, when the job left no report)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out_path = CACHE / f".out-{os.getpid()}"
    err_path = CACHE / f".err-{os.getpid()}"
    peak_path = CACHE / f".peak-{os.getpid()}"
    peak_path.unlink(missing_ok=True)
    python_path = os.pathsep.join(p for p in (str(PEAK_HOOK), os.environ.get("PYTHONPATH", "")) if p)
    full_env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        **(env or {}),
        "PYTHONPATH": python_path,
        "MLGATE_BENCH_PEAK": str(peak_path),
    }
    timed_out = False
    with out_path.open("w") as out, err_path.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(resolve(argv), stdout=out, stderr=err, env=full_env, cwd=cwd)
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                code = proc.returncode = -9
                timed_out = True
                break
            time.sleep(0.002)
        seconds = time.perf_counter() - start
    stdout, stderr = (
        ("", f"timeout after {timeout:.0f} s") if timed_out else (out_path.read_text(), err_path.read_text())
    )
    reported = job_peak_kb(peak_path)
    peak_kb = reported if reported is not None else usage.ru_maxrss
    for path in (out_path, err_path, peak_path):
        path.unlink(missing_ok=True)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        seconds, peak_kb / 1024, code, stdout, stderr, peak_exact=reported is not None, cpu_seconds=cpu
    )


def measure(
    label: str,
    argv: list[str],
    repeats: int,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    note: str = "",
    cwd: Path | None = None,
    verbose: bool = True,
) -> Measurement:
    result = Measurement(label, note=note)
    for _ in range(repeats):
        run = run_once(argv, env, timeout, cwd)
        result.runs.append(run)
        if verbose:
            bound = "" if run.peak_exact else "<= "
            print(
                f"  {label}: {run.seconds:.3f} s, {bound}{run.peak_mb:.0f} MB, exit {run.code}",
                file=sys.stderr,
                flush=True,
            )
        if run.code != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            break
    return result


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def wait_for_low_load(limit: float, max_wait: float) -> float:
    """Sleep until the 1-minute load average drops below `limit` (or max_wait passes); returns it."""
    waited = 0.0
    while os.getloadavg()[0] > limit and waited < max_wait:
        time.sleep(15)
        waited += 15
    return os.getloadavg()[0]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(
            next(
                x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
            ).split()[1]
        )
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, {library_versions()}; "
        f"{platform.system()} {platform.release()}; {code_version()}"
    )


def code_version() -> str:
    """The commit the measured code is at, and whether mlgate's code or the benches differ from it: a
    published figure names the commit it describes."""
    root = Path(__file__).resolve().parent.parent
    git = ["git", "-C", str(root)]
    try:
        sha = subprocess.run(
            [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "gates", "bench/*.py", "pyproject.toml"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "mlgate at an unknown commit (not a git checkout)"
    return f"mlgate at commit {sha}" + (" with uncommitted changes" if changed else "")


LIBRARIES = ("numpy", "pyarrow", "pandas", "scipy", "scikit-learn", "fairlearn", "evidently")


def library_versions() -> str:
    """Versions of the libraries the benchmarks measure or run on, from their installed metadata (nothing is
    imported), and Evidently's and its pandas' in Evidently's own environment when that exists."""
    from importlib import metadata

    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    if EVIDENTLY_PYTHON.exists():
        probe = (
            "from importlib import metadata as m\n"
            "print(' '.join(m.version(n) for n in ('evidently', 'pandas')))"
        )
        try:
            done = subprocess.run(
                [str(EVIDENTLY_PYTHON), "-c", probe], capture_output=True, text=True, timeout=60, check=True
            )
            evidently, pandas = done.stdout.split()
            found.append(f"evidently {evidently} with pandas {pandas} (own environment)")
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return ", ".join(found)


# ------------------------------------------------------------------------------------------------ tables
def seconds_text(m: Measurement) -> str:
    if m.skipped:
        return f"skipped: {m.skipped}"
    if not m.ok:
        return "failed: " + (m.runs[-1].stderr.strip().splitlines() or ["?"])[-1][:80]
    low, high = m.spread
    if len(m.runs) == 1:
        return f"{m.median:.3g} s (1 run)"
    return f"{m.median:.3g} s ({low:.3g}-{high:.3g})"


def ratio_text(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


def python_argv(script: Path, *args: str) -> list[str]:
    return [sys.executable, str(script), *args]


def regressions(
    now: dict[str, float], stored: dict[str, float], spreads: dict[str, str], what: str = "gate / floor CPU"
) -> list[str]:
    """The keys whose ratio (`what`) is over REGRESSION times the stored one; prints a line per key, its
    spread (from `spreads`) beside the verdict. Keys with nothing stored are printed and pass."""
    worse = []
    for key, value in now.items():
        before, spread = stored.get(key), spreads.get(key, "")
        if not before:
            print(f"{key}: {what} {value:.2f}x (nothing stored; {spread})")
            continue
        verdict = "ok"
        if value > REGRESSION * before:
            verdict = f"REGRESSED (over {REGRESSION:.2f}x the stored ratio)"
            worse.append(key)
        print(
            f"{key}: {what} {value:.2f}x, stored {before:.2f}x ({value / before:.2f} of it; {spread}) -> {verdict}"
        )
    return worse
