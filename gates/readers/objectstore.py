"""Tables in S3-compatible object storage (`s3://bucket/key.parquet`, a glob, a hive-partitioned prefix) read
through pyarrow's S3FileSystem.

Why pyarrow and not DuckDB's httpfs: the extension is a separate binary built for one DuckDB version and
fetched from the network; where it is not installed (or cannot be), DuckDB scans the pyarrow dataset this
module opens (gates.engine.duckdb), and the local engine copies the one object it reads into a temporary
file (fetch). Settings: the endpoint from `engine.s3.endpoint_url`, else AWS_ENDPOINT_URL_S3 /
AWS_ENDPOINT_URL (MinIO, Ceph, moto ...), the region from `engine.s3.region`, else AWS_REGION /
AWS_DEFAULT_REGION; credentials only from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, else the AWS SDK's own chain: profile files, instance roles), never from the policy and
never printed.

Faults: an unreachable endpoint is infrastructure (InfraError, exit 3); a missing bucket or key, a pattern
that matches nothing, refused credentials are bad input or configuration (InputError, exit 2). Each is one
line naming the URI.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gates.core.errors import InfraError, InputError

SCHEME = "s3://"
GLOB = "*?["
NETWORK = (
    "NETWORK_CONNECTION",
    "Could not connect",
    "Couldn't connect",
    "curlCode: 28",
    "Timeout",
    "timed out",
)
DENIED = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403")


def is_uri(text: str) -> bool:
    """Whether a flag or policy value is a URL (s3://, gs://, https:// ...): kept as it is, never resolved
    against a folder."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """A key glob as DuckDB reads one: `*` and `?` stay within a folder, `**/` spans folders, `[...]` a
    set."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def filesystem(settings: dict[str, Any] | None = None):
    """pyarrow's S3FileSystem for the policy's `engine:` settings and the environment (bounded timeouts, so
    an unreachable endpoint fails in seconds)."""
    from pyarrow import fs

    spec = dict((settings or {}).get("s3") or {})
    endpoint = (
        spec.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    region = spec.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options: dict[str, Any] = {"connect_timeout": 5.0, "request_timeout": 60.0}
    if endpoint:
        scheme, _, host = str(endpoint).partition("://")
        options.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
    if region:
        options["region"] = str(region)
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        options.update(
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        )
    return fs.S3FileSystem(**options)


def split(uri: str) -> str:
    """`bucket/key` of an s3:// URI; other schemes are a one-line error saying what is read."""
    if not uri.startswith(SCHEME):
        scheme = uri.split("://", 1)[0]
        raise InputError(
            f"{uri}: {scheme}:// is not read here; object storage is read as s3:// (S3-compatible)"
        )
    path = uri[len(SCHEME) :]
    if not path or path.startswith("/"):
        raise InputError(f"{uri}: expected s3://bucket/key")
    return path


def fault(uri: str, exc: Exception) -> Exception:
    """The error to raise for a pyarrow / AWS SDK failure on `uri` (credentials never appear in these)."""
    text = " ".join(str(exc).split())
    if any(marker in text for marker in NETWORK):
        return InfraError(f"{uri}: object storage unreachable ({text[:200]})")
    if any(marker in text for marker in DENIED):
        return InputError(f"{uri}: access denied (check the credentials in the environment: {text[:160]})")
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "NoSuchKey" in text:
        return InputError(f"{uri}: not found in object storage")
    return InputError(f"{uri}: cannot read from object storage ({text[:200]})")


def files(uri: str, settings: dict[str, Any] | None = None) -> tuple[Any, list[str], str]:
    """(filesystem, the objects' `bucket/key` paths, the base prefix) of a key, a glob or a prefix ending in
    '/' (every object under it); the base is where hive partition folders (`region=north/`) start."""
    from pyarrow import fs as pafs

    path = split(uri)
    s3 = filesystem(settings)
    try:
        if not any(ch in path for ch in GLOB) and not path.endswith("/"):
            info = s3.get_file_info(path)
            if info.type == pafs.FileType.File:
                return s3, [path], path.rsplit("/", 1)[0]
            if info.type != pafs.FileType.Directory:
                raise InputError(f"{uri}: not found in object storage")
            path += "/"
        base = path
        for ch in GLOB:
            base = base.split(ch, 1)[0]
        base = base.rsplit("/", 1)[0] if not base.endswith("/") else base.rstrip("/")
        listed = s3.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's OSError carries the AWS SDK's reason
        raise fault(uri, exc) from None
    keys = sorted(i.path for i in listed if i.type == pafs.FileType.File)
    if path.endswith("/"):
        keys = [k for k in keys if k.lower().endswith((".parquet", ".parq", ".csv", ".tsv"))]
    else:
        matcher = glob_pattern(path)
        keys = [k for k in keys if matcher.match(k)]
    if not keys:
        raise InputError(
            f"{uri}: no object matches" if any(c in path for c in GLOB) else f"{uri}: no tables under it"
        )
    return s3, keys, base


def dataset(uri: str, settings: dict[str, Any] | None = None):
    """The objects as one pyarrow dataset (Parquet or CSV by their names; hive partition folders below the
    base prefix become columns), for DuckDB to scan."""
    import pyarrow.dataset as ds

    s3, keys, base = files(uri, settings)
    csv = all(k.lower().endswith((".csv", ".tsv")) for k in keys)
    if csv and any(k.lower().endswith(".tsv") for k in keys):
        import pyarrow.csv as pacsv

        form: Any = ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter="\t"))
    else:
        form = "csv" if csv else "parquet"
    try:
        return ds.dataset(
            keys,
            filesystem=s3,
            format=form,
            partitioning=ds.HivePartitioning.discover(infer_dictionary=False),
            partition_base_dir=base,
        )
    except Exception as exc:  # noqa: BLE001 - one line naming the URI
        raise fault(uri, exc) from None


def fetch(uri: str, folder: Path, settings: dict[str, Any] | None = None) -> Path:
    """One object copied into `folder` (streamed, never whole in memory), for the local engine's readers,
    which read one file; the copy keeps the key's name so its suffix says the format."""
    s3, keys, _ = files(uri, settings)
    if len(keys) != 1 or any(ch in uri for ch in GLOB) or uri.endswith("/"):
        raise InputError(
            f"{uri}: the local engine reads one object; use --engine duckdb for a glob or a prefix"
        )
    target = Path(folder) / keys[0].rsplit("/", 1)[-1]
    try:
        with s3.open_input_stream(keys[0]) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 8 << 20)
    except Exception as exc:  # noqa: BLE001
        raise fault(uri, exc) from None
    return target


def scratch() -> Path:
    """A private temporary folder for fetched objects (removed by the caller)."""
    return Path(tempfile.mkdtemp(prefix="mlgate-s3-"))
