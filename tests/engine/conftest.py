"""One Spark session for every Spark test of the engine (a JVM start costs ~10 s; five modules each started and
stopped their own). Its conf is what the modules asked for: local[2], 1 GB of driver memory, and three shuffle
partitions so that the profiles' distributed sort really spans several sorted partitions. mlgate's own
`session()` returns it while it is active, so the CLI runs inside a test use it too."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from gates.engine.spark import session

    active = session(
        {
            "spark": {
                "master": "local[2]",
                "conf": {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": 3},
            }
        }
    )
    yield active
    active.stop()
