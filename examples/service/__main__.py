"""Run the model service: ``python -m examples.service``.

Listens on ``BIND_ADDRESS`` (else ``POD_IP``, else 127.0.0.1; the image sets 0.0.0.0) and ``PORT`` (default 8080). See
:class:`examples.service.app.Settings` for the other variables.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    # One thread per prediction: small requests gain nothing from OpenMP, and many pods share a node.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from examples.service.app import Settings, create_app

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"model service: configuration error: {exc}", file=sys.stderr)
        return 2
    host = os.environ.get("BIND_ADDRESS") or os.environ.get("POD_IP") or "127.0.0.1"
    try:
        port = int(os.environ.get("PORT") or 8080)
    except ValueError:
        print(
            f"model service: configuration error: PORT={os.environ.get('PORT')!r} is not a number",
            file=sys.stderr,
        )
        return 2
    print(
        f"model service {settings.track} listening on {host}:{port} (model {settings.model_path})", flush=True
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
