"""Settings of the engines that compute the gates' sufficient statistics (the top-level `engine:` section)
and the engine a section asks for (`engine:` in metrics, bias and drift; `--engine` on their commands).

Defaults live here once; gates.engine.choose reads the mapping the policy holds (its keys as below)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import PathText, Settings

EngineChoice = Literal["local", "duckdb", "spark", "auto"]
EngineName = Annotated[
    EngineChoice,
    Field(
        description="Where the statistics are computed: local (pyarrow in this process), duckdb (embedded, out "
        "of core: globs, hive-partitioned folders, object storage), spark (a cluster; `table:NAME` reads a "
        "Spark table), or auto: local for single files up to engine.auto_bytes, DuckDB above that and for "
        "globs and folders. Default: engine.default, else auto."
    ),
]


class SparkSettings(Settings):
    """The Spark session the spark engine starts when none is active (a notebook's is used as it is)."""

    master: Annotated[str, Field(min_length=1)] = "local[*]"
    """Spark master URL."""
    conf: dict[str, str | int | float | bool] | None = None
    """Spark configuration, e.g. spark.sql.shuffle.partitions: 64 (a session mlgate starts has the UI off,
    adaptive execution on and, on a local[N] master, 2N shuffle partitions unless set here)."""
    log_level: Literal["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"
    """Spark's log level in a session mlgate starts."""


class S3Settings(Settings):
    """Where s3:// tables are read from (gates.readers.objectstore); credentials come only from the
    environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or the AWS SDK's chain)."""

    endpoint_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] | None = None
    """An S3-compatible endpoint, e.g. http://minio.internal:9000 (default: AWS_ENDPOINT_URL_S3, else
    AWS_ENDPOINT_URL, else AWS)."""
    region: Annotated[str, Field(min_length=1)] | None = None
    """The bucket's region (default: AWS_REGION, else AWS_DEFAULT_REGION)."""


class EngineSettings(Settings):
    """Where the gates' sufficient statistics are computed (gates.engine): counts per group, label,
    prediction and score, and drift profiles, as sums that merge across partitions."""

    default: EngineChoice = "auto"
    """The engine of a section that names none (auto: local for single files up to auto_bytes, DuckDB above
    that and for globs and folders)."""
    auto_bytes: Annotated[int, Field(ge=0)] = 256 << 20
    """auto: single files larger than this many bytes go to DuckDB (globs and folders always do)."""
    memory_limit: (
        Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")] | None
    ) = None
    """DuckDB's memory limit, e.g. 1GB; past it DuckDB spills to temp_directory (default: 80% of RAM)."""
    threads: Annotated[int, Field(ge=1, le=1024)] | None = None
    """DuckDB's threads (default: every core)."""
    temp_directory: PathText | None = None
    """DuckDB's spill folder (default: DuckDB's own)."""
    max_cells: Annotated[int, Field(ge=1024)] = 1 << 21
    """DuckDB and Spark: a table with more rows than this has its scores grouped on the grid 2^-k with k as
    large as keeps the cells under it (ROC AUC and average precision then carry a stated bound; counts and
    losses stay exact). The local engine's is streaming.max_cells."""
    spark: SparkSettings | None = None
    s3: S3Settings | None = None
