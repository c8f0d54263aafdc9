"""Canary runs for the report tests: the real state machine (gates.deploy.canary.Run) and its real judges on the
in-memory cluster and scripted Prometheus of tests/canary/fakes.py, with traffic that accumulates
from one analysis to the next (so the sequential bounds narrow as they do on a live canary)."""

from __future__ import annotations

from gates.core.result import GateResult
from gates.deploy.canary import Run, Stop
from gates.deploy.canary.report import result_of
from tests.canary.fakes import HEALTHY, FakeCluster, FakeProm, config


class GrowingProm(FakeProm):
    """Counts grow with each analysis: the k-th look sees k times the base traffic of each track."""

    def __init__(self, canary: dict, stable: dict):
        super().__init__(canary, stable)
        self.base = {"canary": dict(canary), "stable": dict(stable)}
        self.looks = 0

    def _scale(self, query: str) -> None:
        if 'track="canary"' in query and "model_request_errors_total" in query:
            self.looks += 1
        k = max(self.looks, 1)
        for track, base in self.base.items():
            scaled = {key: value * k for key, value in base.items() if isinstance(value, (int, float))}
            scaled["latency"] = [count * k for count in base.get("latency", [])]
            self.tracks[track] = scaled

    def value(self, query, at=None):
        self._scale(query)
        return super().value(query, at)

    def query(self, query, at=None):
        self._scale(query)
        return super().query(query, at)


def canary_result(regressed: bool = False, steps: tuple[int, ...] = (10, 25, 50, 100)) -> GateResult:
    """A finished canary's GateResult: promoted after every step, or rolled back once errors surely rose."""
    canary = {**HEALTHY, "requests": 400, "errors": 12 if regressed else 2, "latency": [200, 160, 36, 4, 0]}
    stable = {**HEALTHY, "requests": 400, "errors": 2, "latency": [200, 160, 36, 4, 0]}
    cfg = config()
    cfg.steps = list(steps)
    run = Run(cfg, FakeCluster(), GrowingProm(canary, stable), stop=Stop(), log=lambda line: None)
    return result_of(run, run.execute())
