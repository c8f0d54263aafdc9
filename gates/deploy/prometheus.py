"""A small Prometheus HTTP API client (``/api/v1/query``, ``/api/v1/query_range``, ``/api/v1/metadata``) for
canary analysis.

- Every request has a timeout; connection errors, timeouts, HTTP 429 and 5xx are retried a bounded number of times
  with exponential backoff. When Prometheus stays unreachable the client raises ``InfraError`` (exit 3), so a
  canary can never be promoted on missing evidence.
- A query Prometheus rejects (HTTP 400 / 422, ``bad_data``) is a configuration problem: ``InputError`` (exit 2).
- An empty result, or only NaN / Inf samples, is explicit: :meth:`PrometheusClient.value` raises :class:`NoData`
  and :meth:`PrometheusClient.values` returns ``[]`` so the judges can classify it (no data is never a pass).
- Credentials come from the environment: ``MLGATE_PROMETHEUS_TOKEN`` (bearer token) or
  ``MLGATE_PROMETHEUS_USER`` + ``MLGATE_PROMETHEUS_PASSWORD`` (basic auth). They are never logged or recorded.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from gates.core.errors import InfraError, InputError

TOKEN_ENV = "MLGATE_PROMETHEUS_TOKEN"
USER_ENV = "MLGATE_PROMETHEUS_USER"
PASSWORD_ENV = "MLGATE_PROMETHEUS_PASSWORD"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class NoData(Exception):
    """The query ran but returned no usable sample (empty vector, or only NaN / Inf)."""

    def __init__(self, query: str, why: str = "the query returned no samples"):
        super().__init__(f"{why}: {query}")
        self.query = query
        self.why = why


@dataclass
class Series:
    """One series of a result: its labels and its (unix time, value) points; an instant vector has one point."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.points[-1][1] if self.points else math.nan


@dataclass(frozen=True)
class Auth:
    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Auth:
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV) or None
        user = env.get(USER_ENV) or None
        password = env.get(PASSWORD_ENV)
        if user and password is None:
            raise InputError(f"{USER_ENV} is set but {PASSWORD_ENV} is not")
        return cls(token=token, user=user, password=password)

    def describe(self) -> str:
        return "bearer token" if self.token else ("basic auth" if self.user else "none")


class PrometheusClient:
    """Instant and range queries with timeouts and bounded retries. ``sleep`` is injectable for tests."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        auth: Auth | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not url or not url.startswith(("http://", "https://")):
            raise InputError(f"prometheus url {url!r}: expected http://HOST:PORT or https://...")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.auth = auth if auth is not None else Auth.from_env()
        self.session = session or requests.Session()
        self.sleep = sleep
        self.requests_made = 0

    # -- transport ---------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth.token}"} if self.auth.token else {}

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET with retries; returns the ``data`` member of a successful answer."""
        last = ""
        basic = (
            (self.auth.user, self.auth.password or "") if (self.auth.user and not self.auth.token) else None
        )
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(min(self.max_backoff, self.backoff * (2 ** (attempt - 1))))
            self.requests_made += 1
            try:
                response = self.session.get(
                    f"{self.url}{path}",
                    params=params,
                    headers=self._headers(),
                    auth=basic,
                    timeout=self.timeout,
                )
            except requests.exceptions.Timeout:
                last = f"timed out after {self.timeout:g} s"
                continue
            except requests.exceptions.RequestException as exc:
                last = f"cannot connect ({type(exc).__name__})"
                continue
            if response.status_code in RETRYABLE_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code in (401, 403):
                raise InfraError(
                    f"prometheus {self.url}: HTTP {response.status_code} (check {TOKEN_ENV} or "
                    f"{USER_ENV} / {PASSWORD_ENV}); auth: {self.auth.describe()}"
                )
            try:
                body = response.json()
            except ValueError:
                last = f"HTTP {response.status_code} with a body that is not JSON"
                continue
            if response.status_code in (400, 422) or body.get("errorType") == "bad_data":
                raise InputError(
                    f"prometheus rejected the query {params.get('query')!r}: "
                    f"{body.get('error', 'bad request')}"
                )
            if body.get("status") != "success":
                last = f"{body.get('errorType', 'error')}: {body.get('error', 'unknown error')}"
                continue
            return body.get("data") or {}
        raise InfraError(f"prometheus {self.url} unreachable after {self.retries + 1} attempts: {last}")

    # -- queries -----------------------------------------------------------------------------------------------
    def query(self, promql: str, at: float | None = None) -> list[Series]:
        """Instant query: one point per series (a scalar result becomes one series without labels)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return _parse(self._get("/api/v1/query", params))

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        if end < start:
            raise InputError(f"query_range: end {end} is before start {start}")
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{max(step, 0.001):g}",
        }
        return _parse(self._get("/api/v1/query_range", params))

    def known_metric(self, name: str) -> bool:
        """Whether some target exposes a metric of this name (``/api/v1/metadata``, from the scraped ``# TYPE``
        lines), even one with no series yet: a labelled counter that never counted has metadata but no samples."""
        names = {name, name[: -len("_total")]} if name.endswith("_total") else {name}
        return any(self._get("/api/v1/metadata", {"metric": n}).get(n) for n in names)

    def value(self, promql: str, at: float | None = None) -> float:
        """The single value of an instant query; raises NoData when empty or not finite."""
        series = self.query(promql, at)
        finite = [s.value for s in series if math.isfinite(s.value)]
        if not finite:
            raise NoData(promql, "the query returned no samples" if not series else "only NaN / Inf samples")
        if len(finite) > 1:
            raise InputError(
                f"query returned {len(finite)} series, expected one (aggregate with sum(...) "
                f"or a by() clause): {promql}"
            )
        return finite[0]

    def values(self, promql: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """The finite points of a range query that yields one series; ``[]`` when there are none."""
        series = self.query_range(promql, start, end, step)
        if len(series) > 1:
            raise InputError(f"range query returned {len(series)} series, expected one: {promql}")
        return [(t, v) for t, v in (series[0].points if series else []) if math.isfinite(v)]

    def ready(self) -> bool:
        try:
            return (
                self.session.get(
                    f"{self.url}/-/ready", timeout=self.timeout, headers=self._headers()
                ).status_code
                == 200
            )
        except requests.exceptions.RequestException:
            return False


def _number(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _parse(data: Any) -> list[Series]:
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return [Series({}, [(float(result[0]), _number(result[1]))])]
    out: list[Series] = []
    for item in result or []:
        labels = dict(item.get("metric") or {})
        if "value" in item:
            out.append(Series(labels, [(float(item["value"][0]), _number(item["value"][1]))]))
        else:
            out.append(Series(labels, [(float(t), _number(v)) for t, v in item.get("values") or []]))
    return out
