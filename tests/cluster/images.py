"""Fake-node image catalog entries for the example model service.

The fake node runs an "image" as a local process; an entry is the argv that starts the example service with the
environment its image would bake in (MODEL_VERSION and any FAULT_* switch). Inherited FAULT_* and BIND_ADDRESS
variables are dropped first, so one test's fault never leaks into another's pods.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def service_image(version: str, **env: str) -> list[str]:
    """The argv of the example service as version `version` with the extra environment `env`."""
    code = (
        f"import os, sys, runpy; sys.path.insert(0, {str(ROOT)!r}); "
        "[os.environ.pop(k) for k in list(os.environ) if k.startswith('FAULT_') or k == 'BIND_ADDRESS']; "
        + "".join(f"os.environ[{k!r}] = {v!r}; " for k, v in {"MODEL_VERSION": version, **env}.items())
        + "runpy.run_module('examples.service', run_name='__main__')"
    )
    return [sys.executable, "-c", code]
