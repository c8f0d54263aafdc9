"""FastAPI service for the example credit-default model.

Endpoints: ``POST /predict`` (one record), ``POST /batch_predict`` (at most ``MAX_BATCH`` records),
``POST /feedback`` (labels for earlier predictions), ``GET /health`` (liveness), ``GET /ready`` (readiness:
model loaded and scanned), ``GET /metrics`` (Prometheus).

Configuration comes from the environment (see :class:`Settings`). The ``FAULT_*`` variables are for tests
only: they make the service misbehave on purpose so canary analysis and rollbacks can be tested.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from examples.credit import features
from examples.service.inputs import records_to_matrix
from examples.service.metrics import ServiceMetrics, Windows
from examples.service.model import LoadedModel, load_card, load_model
from examples.service.profile import PROFILE_PATH, load_profile
from examples.service.shadow import Tee

MAX_BATCH = 100
MAX_FEEDBACK = 1000
MAX_BODY_BYTES = 1 << 20
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "data" / "model.skops"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TRACKS = ("stable", "canary")


@dataclass(frozen=True)
class Settings:
    """Environment of the service.

    ``MODEL_PATH`` (default the example's ``examples/data/model.skops``), ``MODEL_CARD`` (default
    ``model_card.json`` beside the model), ``MODEL_VERSION`` (default the card's ``model_version``),
    ``TRACK`` (``stable`` or ``canary``), ``PROFILE_PATH`` (the drift profile), ``WINDOW`` (rows in the
    rolling windows, default 1000).

    Test-only fault injection: ``FAULT_ERROR_RATE`` (share of prediction requests answered 500, spread evenly:
    0.2 fails every fifth request), ``FAULT_LATENCY_MS`` (added to every prediction request),
    ``FAULT_SCORE_SHIFT`` (added to every score, then clipped to [0, 1]), ``FAULT_NOT_READY=1`` (``/ready``
    always answers 503).

    Shadow traffic (examples/service/shadow.py): ``SHADOW_URL``, ``SHADOW_PERCENT``, ``SHADOW_TIMEOUT_MS``.
    """

    model_path: Path = DEFAULT_MODEL
    card_path: Path | None = None
    model_version: str | None = None
    track: str = "stable"
    profile_path: Path | None = PROFILE_PATH
    window: int = 1000
    fault_error_rate: float = 0.0
    fault_latency_ms: float = 0.0
    fault_score_shift: float = 0.0
    fault_not_ready: bool = False
    shadow_url: str | None = None
    shadow_percent: float = 100.0
    shadow_timeout_ms: float = 1000.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "")
            if raw.strip() == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r}: expected a number") from None
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name}={raw!r}: expected a number in [{low:g}, {high:g}]")
            return value

        track = env.get("TRACK", "stable") or "stable"
        if track not in TRACKS:
            raise ValueError(f"TRACK={track!r}: expected one of {', '.join(TRACKS)}")
        model_path = Path(env.get("MODEL_PATH") or DEFAULT_MODEL)
        return cls(
            model_path=model_path,
            card_path=Path(env["MODEL_CARD"]) if env.get("MODEL_CARD") else None,
            model_version=env.get("MODEL_VERSION") or None,
            track=track,
            profile_path=Path(env["PROFILE_PATH"]) if env.get("PROFILE_PATH") else PROFILE_PATH,
            window=int(number("WINDOW", 1000, 10, 100_000)),
            fault_error_rate=number("FAULT_ERROR_RATE", 0.0, 0.0, 1.0),
            fault_latency_ms=number("FAULT_LATENCY_MS", 0.0, 0.0, 60_000.0),
            fault_score_shift=number("FAULT_SCORE_SHIFT", 0.0, -1.0, 1.0),
            fault_not_ready=env.get("FAULT_NOT_READY", "").strip().lower() in ("1", "true", "yes"),
            shadow_url=_shadow_url(env.get("SHADOW_URL", "")),
            shadow_percent=number("SHADOW_PERCENT", 100.0, 0.0, 100.0),
            shadow_timeout_ms=number("SHADOW_TIMEOUT_MS", 1000.0, 1.0, 60_000.0),
        )

    @property
    def card(self) -> Path:
        return self.card_path or self.model_path.with_name("model_card.json")


def _shadow_url(raw: str) -> str | None:
    url = raw.strip()
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"SHADOW_URL={raw!r}: expected an http:// or https:// URL")
    return url or None


class ServiceState:
    """Model, windows and fault counters of one running service."""

    def __init__(self, settings: Settings):
        self.settings = settings
        card = load_card(settings.card)
        self.version = settings.model_version or str(card.get("model_version") or "unknown")
        self.threshold = float(card.get("decision_threshold", 0.5))
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self.windows = Windows(size=settings.window)
        profile = load_profile(settings.profile_path) if settings.profile_path else None
        self.metrics = ServiceMetrics(self.version, settings.track, profile, self.windows)
        self._fault_lock = threading.Lock()
        self._fault_count = 0
        self.tee = (
            Tee(
                settings.shadow_url,
                settings.shadow_percent,
                settings.shadow_timeout_ms / 1000,
                self.metrics.registry,
                self.metrics.base,
            )
            if settings.shadow_url
            else None
        )

    def load(self) -> None:
        try:
            self.model = load_model(self.settings.model_path, self.settings.card, self.version)
        except Exception as exc:  # noqa: BLE001 - reported by /ready; the process stays up so the reason can be read
            self.load_error = f"{type(exc).__name__}: {exc}"
            return
        self.metrics.info.labels(artifact_sha256=self.model.sha256, **self.metrics.base).set(1)
        self.metrics.ready.labels(**self.metrics.base).set(0 if self.settings.fault_not_ready else 1)

    def ready(self) -> tuple[bool, str]:
        if self.settings.fault_not_ready:
            return False, "FAULT_NOT_READY is set (test-only fault injection)"
        if self.model is None:
            return False, self.load_error or "the model is still loading"
        return True, "model loaded and scanned"

    def inject_error(self) -> bool:
        """Deterministic share of failures: request n fails when floor(n * rate) steps up."""
        rate = self.settings.fault_error_rate
        if rate <= 0:
            return False
        with self._fault_lock:
            self._fault_count += 1
            n = self._fault_count
        return math.floor(n * rate) > math.floor((n - 1) * rate)

    def score(self, matrix: Any) -> tuple[list[float], list[int]]:
        assert self.model is not None
        raw = self.model.predict_proba(matrix)
        shift = self.settings.fault_score_shift
        scores = [min(1.0, max(0.0, float(p) + shift)) for p in raw]
        return scores, [int(s >= self.threshold) for s in scores]


class RequestFailed(Exception):
    def __init__(self, status: int, error_type: str, detail: str):
        super().__init__(detail)
        self.status, self.error_type, self.detail = status, error_type, detail


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise RequestFailed(413, "too_large", f"request body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestFailed(400, "bad_json", f"request body is not valid JSON: {exc}") from None


def _groups(record: Mapping[str, Any]) -> dict[str, str]:
    """Sensitive attributes a client may send along (not model inputs), for the per-group gauges."""
    return {k: str(record[k]) for k in features.SENSITIVE_FEATURES if isinstance(record.get(k), str)}


def create_app(settings: Settings | None = None, load_in_background: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    state = ServiceState(settings)

    async def lifespan(app: FastAPI):
        if load_in_background:  # /health answers at once; /ready says 503 until the model is loaded
            thread = threading.Thread(target=state.load, name="model-loader", daemon=True)
            thread.start()
        else:
            state.load()
        yield

    app = FastAPI(
        title="credit-default model service",
        version=state.version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state

    async def predict_endpoint(request: Request, endpoint: str, parse) -> Response:
        started = time.perf_counter()
        request_id = _request_id(request)
        code, error_type = 200, None
        items: list[dict[str, Any]] = []
        try:
            if settings.fault_latency_ms:
                await asyncio.sleep(settings.fault_latency_ms / 1000)
            records = parse(await _json_body(request))
            if state.model is None:
                raise RequestFailed(503, "not_ready", "the model is not loaded yet")
            if state.inject_error():
                raise RequestFailed(500, "injected", "injected fault (FAULT_ERROR_RATE, test only)")
            try:
                matrix = records_to_matrix(records)
            except (ValueError, TypeError) as exc:
                raise RequestFailed(422, "validation", str(exc)) from None
            try:
                # A small model on a few rows: scoring inline is faster than handing it to a thread.
                scores, predictions = (
                    state.score(matrix) if len(records) <= 8 else await run_in_threadpool(state.score, matrix)
                )
            except Exception as exc:  # noqa: BLE001 - answered as a 500 and counted
                raise RequestFailed(500, "internal", f"prediction failed: {type(exc).__name__}") from None
            state.metrics.observe_scores(scores, predictions)
            for index, (record, score, prediction) in enumerate(zip(records, scores, predictions)):
                item_id = (
                    request_id if len(records) == 1 and endpoint == "predict" else f"{request_id}-{index}"
                )
                state.windows.add_prediction(
                    item_id, {c: record[c] for c in features.FEATURES}, prediction, _groups(record)
                )
                items.append({"request_id": item_id, "score": round(score, 6), "prediction": prediction})
            base = {"request_id": request_id, "model_version": state.version, "track": settings.track}
            body = {**base, **items[0]} if endpoint == "predict" else {**base, "predictions": items}
            response: Response = JSONResponse(body)
        except RequestFailed as exc:
            code, error_type = exc.status, exc.error_type
            response = JSONResponse(
                {"error": exc.error_type, "detail": exc.detail, "request_id": request_id},
                status_code=exc.status,
            )
        response.headers["X-Request-ID"] = request_id
        seconds = time.perf_counter() - started
        response.headers["Server-Timing"] = f"app;dur={seconds * 1000:.3f}"  # the tee compares server time
        state.metrics.observe_request(endpoint, code, seconds, error_type)
        if state.tee is not None and request.headers.get("x-shadow") is None:  # never re-mirror a copy
            body = await request.body()  # read once already: starlette keeps it
            if len(body) <= MAX_BODY_BYTES:
                state.tee.offer(request.url.path, body, request_id, code, seconds, items)
        return response

    def parse_one(body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise RequestFailed(
                422,
                "validation",
                "expected a JSON object with the model's input columns: " + ", ".join(features.FEATURES),
            )
        return [body]

    def parse_batch(body: Any) -> list[dict[str, Any]]:
        records = body.get("records") if isinstance(body, dict) else body
        if not isinstance(records, list):
            raise RequestFailed(422, "validation", 'expected {"records": [ ... ]} or a JSON list of records')
        if len(records) > MAX_BATCH:
            raise RequestFailed(
                400,
                "batch_too_large",
                f"batch of {len(records)} records exceeds the limit of "
                f"{MAX_BATCH}; send at most {MAX_BATCH} records per request",
            )
        if not records:
            raise RequestFailed(422, "validation", "the batch holds no records")
        if not all(isinstance(r, dict) for r in records):
            index = next(i for i, r in enumerate(records) if not isinstance(r, dict))
            raise RequestFailed(422, "validation", f"record {index} is not a JSON object")
        return records

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        """Score one application: a JSON object with the model's input columns."""
        return await predict_endpoint(request, "predict", parse_one)

    @app.post("/batch_predict")
    async def batch_predict(request: Request) -> Response:
        """Score up to 100 applications: {"records": [...]}."""
        return await predict_endpoint(request, "batch_predict", parse_batch)

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        """Labels for earlier predictions: {"request_id", "label": 0|1, "groups": {...}} or {"feedback": [...]}."""
        try:
            body = await _json_body(request)
        except RequestFailed as exc:
            return JSONResponse({"error": exc.error_type, "detail": exc.detail}, status_code=exc.status)
        items = body.get("feedback", [body]) if isinstance(body, dict) else body
        if not isinstance(items, list) or not items or len(items) > MAX_FEEDBACK:
            return JSONResponse(
                {"error": "validation", "detail": f"expected 1 to {MAX_FEEDBACK} feedback items"},
                status_code=422,
            )
        for index, item in enumerate(items):
            if not (
                isinstance(item, dict)
                and isinstance(item.get("request_id"), str)
                and item.get("label") in (0, 1)
                and not isinstance(item.get("label"), bool)
                and isinstance(item.get("groups", {}), dict)
            ):
                return JSONResponse(
                    {
                        "error": "validation",
                        "detail": f"feedback item {index}: expected "
                        '{"request_id": str, "label": 0 or 1, "groups": {attribute: group}}',
                    },
                    status_code=422,
                )
        matched = 0
        for item in items:
            groups = {str(k): str(v) for k, v in (item.get("groups") or {}).items()}
            known = state.windows.add_label(item["request_id"], int(item["label"]), groups)
            matched += known
            state.metrics.feedback.labels(
                outcome="matched" if known else "unknown_request", **state.metrics.base
            ).inc()
        return JSONResponse({"accepted": matched, "unknown": len(items) - matched})

    @app.get("/health")
    async def health() -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok", "model_version": state.version, "track": settings.track})

    @app.get("/ready")
    async def ready() -> Response:
        """Readiness: the model is loaded and its artifact passed the checks."""
        ok, reason = state.ready()
        body: dict[str, Any] = {
            "status": "ready" if ok else "not ready",
            "reason": reason,
            "model_version": state.version,
            "track": settings.track,
        }
        if state.model is not None:
            body["artifact_sha256"] = state.model.sha256
            body["scan"] = state.model.scan
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
