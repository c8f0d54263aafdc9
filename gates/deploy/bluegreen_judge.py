"""The sequential judge on test traffic, the last step before a blue/green switch (``deploy.blue_green.judge``).

Why: validation checks the new colour against absolute limits (health, golden answers, a p95 under 500 ms), so a
version that is twice as slow or fails one request in twenty can still pass it. Before every user is moved at
once, the new colour is compared with the live one on the same requests: each test request goes to both colours
(in alternating order, so neither always goes first), and each colour's errors (no 2xx answer) and the latency
of its 2xx answers (a histogram over fine log-spaced buckets) are counted. Every ``look_every`` requests the
canary's sequential judge (:func:`gates.deploy.sequential.sequential_judge`, new colour as ``canary``, live
colour as ``stable``) looks at the counts so far; it is anytime-valid, so looking after every batch costs no
false blocks, and the traffic stops as soon as it decides. A regression (error rate ratio surely above 1, or
latency surely shifted slower beyond ``latency_min_effect_ms``) blocks the switch; so does no decision within
``requests`` or ``max_duration_seconds`` (not enough evidence is never a pass).

The verdict's bounds (error rate ratio and the colours' p95 bounds at the deciding look) go to the check, the
report's evidence (every look) and the deploy summary, so the audit trail keeps them.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gates.core.result import Check, Status
from gates.core.settings.delivery import BlueGreenJudge, EndpointPaths
from gates.deploy.endpoint_traffic import describe_exception, http_session
from gates.deploy.evidence import Counts, Histogram
from gates.deploy.queries import MetricSpec, metric_specs
from gates.deploy.sequential import SequentialSettings, sequential_judge
from gates.deploy.verdicts import JudgeVerdict, Observation, fmt_value

# 1 ms to about 56 s in steps of 20 %: finer than any service's own histogram, so the rank test on the
# buckets sees small shifts and the quantile bounds are read at 20 % resolution.
LATENCY_BOUNDS: tuple[float, ...] = (*(round(0.001 * 1.2**k, 6) for k in range(61)), math.inf)
SIDES = {"new": "canary", "live": "stable"}


@dataclass
class Tally:
    """One colour's test traffic so far: requests sent, those without a 2xx answer, answers by status, and the
    latency of the 2xx answers per bucket of LATENCY_BOUNDS."""

    requests: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS))

    def add(self, answer: str, ok: bool, seconds: float | None) -> None:
        self.requests += 1
        self.errors += not ok
        self.statuses[answer] = self.statuses.get(answer, 0) + 1
        if ok and seconds is not None:
            self.buckets[next(i for i, b in enumerate(LATENCY_BOUNDS) if seconds <= b)] += 1

    def counts(self) -> Counts:
        return Counts(float(self.errors), float(self.requests))

    def histogram(self) -> Histogram:
        cumulative, total = [], 0
        for n in self.buckets:
            total += n
            cumulative.append(float(total))
        return Histogram(LATENCY_BOUNDS, tuple(cumulative))


def judge_specs(settings: BlueGreenJudge) -> list[MetricSpec]:
    """The compared metrics: the error rate (a ratio, every request one trial) and the p95 latency (a
    histogram); the numbers come from the test traffic, not from queries."""
    return metric_specs(
        [
            {
                "name": "error_rate",
                "kind": "ratio",
                "numerator": "-",
                "denominator": "-",
                "min_effect": settings.error_rate_min_effect,
            },
            {
                "name": "latency_p95",
                "kind": "quantile",
                "buckets": "-",
                "quantile": 0.95,
                "min_effect": settings.latency_min_effect_ms / 1000.0,
            },
        ]
    )


def observations(specs: Sequence[MetricSpec], new: Tally, live: Tally) -> list[Observation]:
    """This look's observations: the new colour as the canary, the live one as stable."""
    out = []
    for spec in specs:
        obs = Observation(spec, queries={"source": "test traffic sent by mlgate to both colours"})
        if spec.kind == "ratio":
            obs.canary_sample, obs.stable_sample = new.counts(), live.counts()
        else:
            obs.canary_sample, obs.stable_sample = new.histogram(), live.histogram()
            for side, tally in (("canary", new), ("stable", live)):
                if not any(tally.buckets):
                    obs.missing[side] = "no request answered 2xx"
        out.append(obs)
    return out


class PairedTraffic:
    """Sends each test request to both colours and tallies the answers (every request has a timeout)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        payloads: Sequence[Any],
        paths: EndpointPaths,
        headers: Mapping[str, str],
        timeout: float,
    ):
        self.urls = {k: v.rstrip("/") for k, v in urls.items()}
        self.payloads = list(payloads)
        self.paths = paths
        self.headers = dict(headers)
        self.timeout = timeout
        self.tallies = {side: Tally() for side in self.urls}
        self.sent = 0
        self._lock = threading.Lock()

    def _one(self, session: Any, side: str, index: int) -> None:
        import requests

        base = self.urls[side]
        begin = time.perf_counter()
        try:
            if self.payloads:
                payload = self.payloads[index % len(self.payloads)]
                response = session.post(base + self.paths.predict, json=payload, timeout=self.timeout)
            else:
                response = session.get(base + self.paths.health, timeout=self.timeout)
            seconds: float | None = time.perf_counter() - begin
            answer, ok = str(response.status_code), 200 <= response.status_code < 300
        except requests.RequestException as exc:
            seconds, answer, ok = None, describe_exception(exc), False
        with self._lock:
            self.tallies[side].add(answer, ok, seconds)

    def send(self, pairs: int, concurrency: int, deadline: float, clock: Callable[[], float]) -> int:
        """Send ``pairs`` more requests to each colour (fewer if ``deadline`` passes); returns how many."""
        counter = iter(range(self.sent, self.sent + pairs))
        done = [0]

        def worker() -> None:
            sessions = {side: http_session(url, self.headers) for side, url in self.urls.items()}
            order = list(self.urls)
            while clock() < deadline:
                with self._lock:
                    index = next(counter, None)
                if index is None:
                    return
                for side in order if index % 2 == 0 else order[::-1]:
                    self._one(sessions[side], side, index)
                with self._lock:
                    done[0] += 1

        workers = max(1, min(concurrency, pairs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlgate-bluegreen-judge") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        self.sent += done[0]
        return done[0]


def bounds_text(verdict: JudgeVerdict) -> str:
    """The judge's bounds at its last look, one short line (for the summary and the audit trail)."""
    parts = []
    for m in verdict.metrics:
        look = m.details.get("look") or {}
        if "ratio_lower" in look:
            parts.append(
                f"{m.metric} new/live ratio {fmt_value(look['ratio_lower'])} to {fmt_value(look['ratio_upper'])}"
                + (f", new rate <= {fmt_value(look['rate_upper'])}" if "rate_upper" in look else "")
            )
        elif "canary_quantile" in look:
            (c_lo, c_hi), (s_lo, s_hi) = look["canary_quantile"], look["stable_quantile"]
            parts.append(
                f"p95 new ({fmt_value(c_lo)}, {fmt_value(c_hi)}] s, live ({fmt_value(s_lo)}, {fmt_value(s_hi)}] s"
                + (f", shift evidence e^{look['log_e_slower']:.3g}" if "log_e_slower" in look else "")
            )
    return "; ".join(parts)


def summary_of(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The deploy summary's keys for the judge (scalars, so the audit trail's record keeps them)."""
    return {
        "judge": evidence["verdict"]["outcome"],
        "judge-requests": evidence["requests"],
        "judge-alpha": evidence["alpha"],
        "judge-bounds": evidence["bounds"],
    }


def judge_colours(
    urls: Mapping[str, str],
    payloads: Sequence[Any],
    settings: BlueGreenJudge | Mapping[str, Any],
    paths: EndpointPaths,
    headers: Mapping[str, str],
    timeout: float,
    progress: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
    traffic: PairedTraffic | None = None,
) -> tuple[Check, dict[str, Any]]:
    """Run the test traffic (``urls``: {"new": ..., "live": ...}) with a look every ``look_every`` requests
    per colour until the judge passes or fails or the budget is spent; returns the ``judge`` check and its
    evidence (every look, the last verdict, the bounds). ``traffic``: anything with PairedTraffic's ``send``,
    ``sent`` and ``tallies`` (a simulation with known truth, in the tests)."""
    if not isinstance(settings, BlueGreenJudge):  # a dump of the settings: its unset keys are None
        settings = {k: v for k, v in settings.items() if v is not None}
    opts = BlueGreenJudge.parse(settings, "deploy.blue_green.judge")
    seq = opts.sequential
    base = SequentialSettings(alpha=seq.alpha, tolerance=seq.tolerance, margin=seq.margin, scale=seq.scale)
    specs = judge_specs(opts)
    traffic = traffic or PairedTraffic(urls, payloads, paths, headers, timeout)
    deadline = clock() + opts.max_duration_seconds
    previous: dict[str, list[dict[str, Any]]] = {}
    looks: list[dict[str, Any]] = []
    target = "predict (golden inputs)" if payloads else "health (no golden inputs)"
    verdict: JudgeVerdict | None = None
    while True:
        batch = min(opts.look_every, opts.requests - traffic.sent)
        traffic.send(batch, opts.concurrency, deadline, clock)
        final = traffic.sent >= opts.requests or clock() >= deadline
        new, live = traffic.tallies["new"], traffic.tallies["live"]
        look_settings = dataclasses.replace(base, final=final)
        verdict = sequential_judge(observations(specs, new, live), look_settings, previous)
        assert verdict is not None  # both metrics are covered by the sequential judge
        for m in verdict.metrics:
            if "look" in m.details:
                previous.setdefault(m.metric, []).append(m.details["look"])
        looks.append(
            {
                "requests": traffic.sent,
                "outcome": verdict.outcome,
                "new": {"errors": new.errors, "answers": dict(new.statuses)},
                "live": {"errors": live.errors, "answers": dict(live.statuses)},
                "bounds": bounds_text(verdict),
            }
        )
        progress(f"blue-green judge: {traffic.sent} requests to each colour: {verdict.outcome}")
        if not any(live.buckets) or verdict.outcome in ("pass", "fail") or final:
            break
    bounds = bounds_text(verdict)
    evidence = {
        "urls": dict(urls),
        "target": target,
        "requests": traffic.sent,
        "looks": looks,
        "alpha": seq.alpha,
        "bounds": bounds,
        "verdict": verdict.to_dict(),
    }
    sent = f"{traffic.sent} {target} requests to each colour"
    live_answers = traffic.tallies["live"]
    if not any(live_answers.buckets):  # an unreachable live colour would make any new colour look better
        check = Check(
            "judge",
            Status.ERROR,
            f"the live colour at {urls['live']} answered none of {live_answers.requests} requests with a 2xx "
            f"({live_answers.statuses}): nothing to compare with (give deploy.blue_green.judge.live_url)",
        )
    elif verdict.outcome == "pass":
        check = Check("judge", Status.PASS, f"new colour no worse than live after {sent} ({bounds})")
    elif verdict.outcome == "fail":
        check = Check("judge", Status.FAIL, f"new colour worse than live after {sent}: {verdict.why}")
    else:
        spent = "time" if traffic.sent < opts.requests else "requests"
        check = Check(
            "judge",
            Status.FAIL,
            f"not enough evidence after {sent} (the {spent} budget of deploy.blue_green.judge is spent; "
            f"{verdict.why}) ({bounds})",
        )
    check.value = verdict.outcome
    check.details = {"bounds": bounds, "requests": traffic.sent, "looks": len(looks), "alpha": seq.alpha}
    return check, evidence
