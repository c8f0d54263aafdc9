"""Tables in object storage against a real S3-protocol server on 127.0.0.1 (moto's server mode): the metrics
and bias gates and drift profiles read s3:// keys, globs and hive-partitioned prefixes (DuckDB scanning
pyarrow's dataset; the local engine copying one object), and give the numbers of the same local file; a
missing key is bad input (exit 2), an unreachable endpoint infrastructure (exit 3), each one line."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest

from tests.engine.data import write
from tests.engine.test_duckdb_profiles import assert_close

pytestmark = pytest.mark.timeout(300)
BUCKET = "scored"
KEYS = {
    "AWS_ACCESS_KEY_ID": "testing-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint():
    """moto's S3 server on a free loopback port, up within 20 s or the test errors."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"moto server on {host}:{port} did not answer within 20 s")
            time.sleep(0.1)
    yield f"http://{host}:{port}"
    server.stop()


def upload(endpoint: str, pairs: list[tuple[Path, str]]) -> None:
    """Copy local files or folders to keys of the bucket (created if need be) on the server."""
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        endpoint_override=endpoint.split("://", 1)[1],
        scheme="http",
        access_key=KEYS["AWS_ACCESS_KEY_ID"],
        secret_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        allow_bucket_creation=True,
    )
    s3.create_dir(BUCKET)
    for source, key in pairs:
        fs.copy_files(str(source), f"{BUCKET}/{key}", destination_filesystem=s3)


@pytest.fixture(scope="module")
def stored(endpoint, tmp_path_factory) -> dict[str, Path]:
    """The engine tests' predictions as one object and as a hive-partitioned prefix."""
    files = write(tmp_path_factory.mktemp("s3"))
    upload(endpoint, [(files["single"], "all.parquet"), (files["parts"], "parts")])
    return files


@pytest.fixture(scope="module")
def other_tasks(endpoint, tmp_path_factory) -> dict[str, Path]:
    """A multiclass and a regression table, as files and as objects of the same names."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("tasks")
    rng = np.random.default_rng(3)
    label = rng.choice(["low", "mid", "high"], 3000, p=[0.5, 0.3, 0.2])
    guess = np.where(rng.random(3000) < 0.7, label, rng.choice(["low", "mid", "high"], 3000))
    pq.write_table(pa.table({"label": label, "prediction": guess}), folder / "multiclass.parquet")
    value = rng.gamma(2.0, 50.0, 3000)
    estimate = value * rng.lognormal(0.0, 0.2, 3000)
    pq.write_table(pa.table({"label": value, "prediction": estimate}), folder / "regression.parquet")
    files = {name: folder / f"{name}.parquet" for name in ("multiclass", "regression")}
    upload(endpoint, [(path, path.name) for path in files.values()])
    return files


@pytest.fixture
def aws(endpoint, monkeypatch) -> str:
    """The server's credentials and endpoint in the environment, as a workflow sets them; the endpoint."""
    for key, value in {**KEYS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    return endpoint


def run_gate(cli, gate: str, predictions: str, engine: str, out: Path, *extra: str):
    result = cli(
        gate,
        "--predictions",
        predictions,
        "--positive-label",
        "fraud",
        "--engine",
        engine,
        "--resamples",
        "200",
        "--report-dir",
        str(out),
        "--no-audit",
        *extra,
    )
    return result


def checks(folder: Path, gate: str) -> list[dict]:
    return json.loads((folder / f"{gate}.json").read_text())["gates"][0]["checks"]


@pytest.mark.parametrize(
    ("uri", "engine"),
    [
        (f"s3://{BUCKET}/all.parquet", "duckdb"),
        (f"s3://{BUCKET}/all.parquet", "local"),
        (f"s3://{BUCKET}/parts/", "duckdb"),  # hive-partitioned prefix: region becomes a column
        (f"s3://{BUCKET}/parts/*/*.parquet", "auto"),  # a glob: auto hands it to DuckDB
    ],
)
def test_gates_on_object_storage_equal_the_local_file(stored, aws, cli, tmp_path, uri, engine):
    for gate, extra in (("metrics", ["--min", "roc_auc=0.5"]), ("bias", ["--sensitive", "sex"])):
        want = run_gate(cli, gate, str(stored["single"]), "local", tmp_path / "local", *extra)
        got = run_gate(cli, gate, uri, engine, tmp_path / "s3", *extra)
        assert want.code in (0, 1) and got.code == want.code, got.stderr
        local_checks, s3_checks = checks(tmp_path / "local", gate), checks(tmp_path / "s3", gate)
        assert [c["name"] for c in s3_checks] == [c["name"] for c in local_checks]
        assert [c["value"] for c in s3_checks] == pytest.approx([c["value"] for c in local_checks], abs=1e-9)
        assert [c.get("ci") for c in s3_checks] == [c.get("ci") for c in local_checks]


@pytest.mark.parametrize(
    ("task", "extra"),
    [("multiclass", ["--min", "accuracy=0.5"]), ("regression", ["--max", "mae=80"])],
)
def test_multiclass_and_regression_from_object_storage_equal_the_local_file(
    other_tasks, aws, cli, tmp_path, task, extra
):
    outs = {}
    for name, table in (("local", str(other_tasks[task])), ("s3", f"s3://{BUCKET}/{task}.parquet")):
        outs[name] = tmp_path / name
        result = cli(
            "metrics", "--predictions", table, "--task", task, "--engine", "local", "--resamples", "200",
            "--report-dir", str(outs[name]), "--no-audit", *extra,
        )  # fmt: skip
        assert result.code in (0, 1), result.stderr
    want, got = checks(outs["local"], "metrics"), checks(outs["s3"], "metrics")
    assert [c["name"] for c in got] == [c["name"] for c in want] and len(got) >= 1
    assert [c["value"] for c in got] == pytest.approx([c["value"] for c in want], abs=1e-9)
    assert [c.get("ci") for c in got] == [c.get("ci") for c in want]


@pytest.mark.parametrize(
    ("uri", "engine"), [(f"s3://{BUCKET}/*.parquet", "auto"), (f"s3://{BUCKET}/multiclass.parquet", "duckdb")]
)
def test_what_only_the_local_engine_computes_is_refused_elsewhere_in_one_line(
    other_tasks, aws, cli, tmp_path, uri, engine
):
    result = cli(
        "metrics", "--predictions", uri, "--task", "multiclass", "--engine", engine,
        "--report-dir", str(tmp_path), "--no-audit",
    )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1 and uri in lines[0] and "local engine" in lines[0], lines


def test_a_baseline_in_object_storage_is_compared_as_the_local_file(stored, aws, cli, tmp_path):
    """The candidate here, the production model's predictions (the same rows, scores shifted) in the bucket."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(stored["single"])
    shifted = table.set_column(1, "score", pc.multiply(table.column("score"), 0.9))
    pq.write_table(shifted, tmp_path / "baseline.parquet")
    upload(aws, [(tmp_path / "baseline.parquet", "baseline.parquet")])
    outs = {}
    for name, baseline in (
        ("local", str(tmp_path / "baseline.parquet")),
        ("s3", f"s3://{BUCKET}/baseline.parquet"),
    ):
        outs[name] = tmp_path / name
        result = run_gate(
            cli, "metrics", str(stored["single"]), "local", outs[name], "--baseline", baseline,
            "--margin", "roc_auc=0.05",
        )  # fmt: skip
        assert result.code in (0, 1), result.stderr
    want, got = checks(outs["local"], "metrics"), checks(outs["s3"], "metrics")
    assert any(c["name"].endswith("_vs_baseline") for c in got)
    assert [(c["name"], c["value"], c.get("ci")) for c in got] == [
        (c["name"], c["value"], c.get("ci")) for c in want
    ]


def test_drift_profile_of_a_prefix(stored, aws, cli, tmp_path):
    outs = {}
    for name, reference, engine in (
        ("local", str(stored["single"]), "local"),
        ("s3", f"s3://{BUCKET}/parts/", "duckdb"),
    ):
        outs[name] = tmp_path / f"{name}.json"
        result = cli(
            "drift", "profile", "--reference", reference, "--engine", engine,
            "--exclude", "region", "--out", str(outs[name]),
        )  # fmt: skip
        assert result.code == 0, result.stderr
    want, got = (json.loads(outs[n].read_text()) for n in ("local", "s3"))
    assert got["rows"] == want["rows"] and got["columns"].keys() == want["columns"].keys()
    assert_close(want["columns"], got["columns"])


@pytest.mark.parametrize(
    ("uri", "engine"),
    [
        (f"s3://{BUCKET}/missing.parquet", "duckdb"),
        (f"s3://{BUCKET}/missing.parquet", "local"),
        ("s3://no-such-bucket/all.parquet", "duckdb"),
        (f"s3://{BUCKET}/nothing/*.parquet", "duckdb"),
    ],
)
def test_missing_object_is_bad_input(stored, aws, cli, tmp_path, uri, engine):
    result = run_gate(cli, "metrics", uri, engine, tmp_path)
    assert result.code == 2, result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and uri in message[0] and "Traceback" not in result.stderr
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout


def test_unreachable_endpoint_is_infrastructure(stored, aws, cli, tmp_path, monkeypatch):
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = run_gate(cli, "metrics", f"s3://{BUCKET}/all.parquet", "duckdb", tmp_path)
    assert result.code == 3, result.stderr
    assert "unreachable" in result.stderr and time.monotonic() - started < 60
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout


def test_click_keeps_the_uri():
    from gates.commands.locations import TABLE, Uri

    value = TABLE.convert("s3://bucket/key/part=1/x.parquet", None, None)
    assert isinstance(value, Uri) and str(value.resolve()) == "s3://bucket/key/part=1/x.parquet"
    assert isinstance(TABLE.convert("preds.parquet", None, None), Path)


@pytest.mark.parametrize("engine", ["local", "duckdb"])
def test_credentials_the_server_refuses_are_configuration(stored, aws, cli, tmp_path, engine):
    """moto's IAM emulation on: the server knows no key, so it answers 403 (InvalidAccessKeyId) as S3 does."""
    from moto.core.authorization import enable_iam_authentication

    uri = f"s3://{BUCKET}/all.parquet"
    with enable_iam_authentication():
        result = run_gate(cli, "metrics", uri, engine, tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1 and uri in lines[0], result.stderr
    assert "credentials" in lines[0] or "denied" in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout


DENIED_HEAD = (
    "When getting information for key 'k' in bucket 'b': AWS Error ACCESS_DENIED during HeadObject operation: "
    "No response body."
)
DENIED_GET = (
    "When reading information for key 'k' in bucket 'b': AWS Error UNKNOWN (HTTP status 403) during GetObject "
    "operation: InvalidAccessKeyId"
)
REFUSED = (
    "When getting information for key 'k' in bucket 'b': AWS Error NETWORK_CONNECTION during HeadObject "
    "operation: curlCode: 7, Could not connect to server"
)


# pyarrow's wording of the AWS SDK's errors (a HEAD has no body, so a 403 says ACCESS_DENIED only)
@pytest.mark.parametrize(("message", "code"), [(DENIED_HEAD, 2), (DENIED_GET, 2), (REFUSED, 3)])
def test_refused_credentials_are_configuration_and_network_faults_infrastructure(message, code):
    """moto's server accepts any key unless IAM is emulated, so the mapping is checked on the SDK's text."""
    from gates.readers.objectstore import fault

    error = fault("s3://b/k", OSError(message))
    assert error.exit_code == code and "\n" not in str(error) and str(error).startswith("s3://b/k: ")
