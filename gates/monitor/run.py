"""`mlgate monitor`, one scheduled run: read what the service served since the last run, feed the sequential
detectors, test the window for drift, judge the labelled subset, act on a regression, and keep the state.

Status: fail when a detector alarms, the window drifts, or accuracy / calibration have regressed beyond their
interval; error when there is no new traffic (unless `no_data: warn`), since a monitor that sees nothing must
not look like a monitor that saw nothing wrong. The state is saved after every run that read its evidence, so a
restart resumes the detectors where they were.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.result import Check, GateResult, Status
from gates.core.settings.monitor import Detection, MonitorSettings
from gates.core.settings.notify import NotifySettings
from gates.monitor import changepoint as cp
from gates.monitor import state as st
from gates.monitor.quality import labelled_checks
from gates.monitor.sources import Evidence, read_logs, read_prometheus

GATE = "monitor"


def reference_moments(reference: Path, columns: list[str]) -> dict[str, tuple[float, float]]:
    """(mean, standard deviation) of each watched column in the reference table or stored drift profile."""
    from gates.readers.columns import is_profile_path, load_profile

    out: dict[str, tuple[float, float]] = {}
    if is_profile_path(reference):
        profiles, _ = load_profile(reference)
        for column in columns:
            profile = profiles.get(column)
            if profile is None or getattr(profile, "kind", "") != "numeric":
                raise InputError(f"{reference}: no numeric profile of column '{column}' (monitor watches it)")
            out[column] = (float(profile.mean), float(profile.std))  # type: ignore[union-attr]
    else:
        from gates.readers.table import numeric_column, read_table

        frame = read_table(reference, columns)
        for column in columns:
            values = numeric_column(frame, column, reference)
            out[column] = (float(values.mean()), float(values.std()))
    for column, (mean, sd) in out.items():
        if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
            raise InputError(
                f"{reference}: column '{column}' is constant in the reference: nothing to standardise by"
            )
    return out


def detectors_for(
    settings: Detection, columns: list[str], state: dict[str, Any]
) -> tuple[dict[str, cp.Detector], dict[str, Any]]:
    """One detector per watched column, with each one's threshold set so that the whole monitor's ARL0 is the
    policy's: D detectors alarming independently at rate 1/(D ARL0) each give about one false alarm per ARL0
    blocks in all."""
    method = settings.method
    per_detector = settings.arl0 * len(columns)
    k = settings.shift * math.sqrt(settings.block_rows) / 2  # half the shift of a block mean, in SEs
    if method == "cusum":
        threshold = cp.cusum_threshold(k, per_detector)
        delay = cp.cusum_arl(k, threshold, shift=2 * k)
    else:
        key = f"page_hinkley:{k:.6g}:{per_detector:.6g}"
        if key not in state["calibration"]:
            state["calibration"][key] = cp.page_hinkley_threshold(k, per_detector)
        threshold = float(state["calibration"][key])
        delay = None
    detectors: dict[str, cp.Detector] = {}
    for column in columns:
        saved = state["detectors"].get(column)
        if saved is not None:
            try:
                detectors[column] = cp.detector_from_dict(saved)
                continue
            except (KeyError, TypeError, ValueError):
                raise InputError(f"monitor state: detector of column '{column}' is damaged") from None
        detectors[column] = (
            cp.Cusum(k=k, h=threshold) if method == "cusum" else cp.PageHinkley(delta=k, lam=threshold)
        )
    design = {
        "method": method,
        "arl0_blocks": settings.arl0,
        "arl0_per_detector": per_detector,
        "detectors": len(columns),
        "block_rows": settings.block_rows,
        "shift_sd": settings.shift,
        "reference_value": k,
        "threshold": threshold,
        "threshold_from": "Siegmund's approximation" if method == "cusum" else "simulation (fixed seed)",
        "expected_delay_blocks": delay,
    }
    return detectors, design


def _blocks(
    values: np.ndarray, pending: dict[str, float], size: int
) -> tuple[list[tuple[float, int]], dict[str, float]]:
    """Full blocks of `size` rows (pending rows from the last run first) as (mean, rows); the rest stays pending
    as a sum and a count, which merge exactly."""
    n0, s0 = int(pending.get("n", 0)), float(pending.get("sum", 0.0))
    blocks: list[tuple[float, int]] = []
    start = 0
    if n0 and n0 + values.size >= size:
        take = size - n0
        blocks.append(((s0 + float(values[:take].sum())) / size, size))
        start, n0, s0 = take, 0, 0.0
    usable = (values.size - start) // size * size
    if usable:
        means = values[start : start + usable].reshape(-1, size).mean(axis=1)
        blocks += [(float(m), size) for m in means]
    rest = values[start + usable :]
    return blocks, {"n": n0 + rest.size, "sum": s0 + float(rest.sum())}


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_monitor(
    section: MonitorSettings | dict[str, Any],
    ctx: GateContext,
    state_path: Path,
    *,
    prometheus: Any = None,
    env: dict[str, str] | None = None,
    notify_section: NotifySettings | dict[str, Any] | None = None,
    now: float | None = None,
) -> GateResult:
    """One run. Raises InputError (bad policy, state, logs) or InfraError (Prometheus unreachable) before the
    state is touched; otherwise returns the result and has saved the new state."""
    settings = MonitorSettings.of(section, "monitor settings")
    notify = NotifySettings.of(notify_section, "notify settings") if notify_section is not None else None
    state = st.load(state_path)
    detection, source = settings.detection, settings.source
    watched = source.watched()
    reference = ctx.path(settings.reference, what="monitor reference")
    moments = reference_moments(reference, watched)
    config = fingerprint({"moments": moments, "detection": detection.model_dump(), "watched": watched})
    notes: list[str] = []
    if state["config"] and state["config"] != config:
        notes.append("the reference or the detection settings changed: detectors restarted")
        state["detectors"], state["pending"] = {}, {}
    state["config"] = config
    detectors, design = detectors_for(detection, watched, state)

    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as work:
        if source.kind == "logs":
            evidence = read_logs(source, ctx.base_dir, watched, state, Path(work))
        else:
            if prometheus is None:
                from gates.deploy.prometheus import PrometheusClient

                if source.url is None:
                    raise InputError(
                        "monitor.source.url: the prometheus source needs the Prometheus base URL"
                    )
                prometheus = PrometheusClient(source.url)
            evidence = read_prometheus(source, state, prometheus, now=now)
        checks = [traffic_check(evidence, settings.no_data)]
        if evidence.forgotten_back:
            checks.append(forgotten_check(evidence.forgotten_back))
        observations: dict[str, list[float]] = {}
        for column in watched:
            mean0, sd0 = moments[column]
            if source.kind == "logs":
                blocks, state["pending"][column] = _blocks(
                    evidence.values.get(column, np.empty(0)),
                    state["pending"].get(column) or {},
                    detection.block_rows,
                )
            else:
                blocks = [b for b in evidence.blocks.get(column, []) if b[1] >= detection.min_block_rows]
            detector = detectors[column]
            zs, alarms = [], []
            for mean, rows in blocks:
                # A Prometheus block holds a run's traffic, which can be far more than block_rows: its z is taken
                # at block_rows at most, so every block asks for the same shift and, without a change, z varies
                # no more than N(0, 1) (the stated ARL0 becomes a floor)
                z = (mean - mean0) / (sd0 / math.sqrt(min(rows, detection.block_rows)))
                zs.append(z)
                if detector.update(z):
                    alarms.append(detector.seen)
            observations[column] = zs
            state["detectors"][column] = detector.to_dict()
            checks.append(change_check(column, detector, zs, alarms, design))
            if alarms:
                state["alarms"].append(
                    {"column": column, "at": st.now_iso(), "block": alarms[0], "run": state["runs"] + 1}
                )
        checks += window_checks(settings, evidence, reference, ctx)
    checks += labelled_checks(evidence.labels, evidence.scores, evidence.labelled_counts, settings.labelled)
    if source.kind == "prometheus":
        state["prometheus"]["last_time"] = now if now is not None else time.time()
        if evidence.counters:
            state["prometheus"]["counters"] = evidence.counters
    else:
        forgotten = st.remember_files(
            state, evidence.files, now if now is not None else time.time(), source.forget_after_days * 86400
        )
        if forgotten:
            notes.append(f"{len(forgotten)} log files gone for {source.forget_after_days:g} days forgotten")
    state["runs"] += 1

    failed = [c for c in checks if c.status is Status.FAIL]
    open_now = {c.name for c in failed}
    for name in list(state["actions"]):
        if name not in open_now:
            del state["actions"][name]  # passed again: the next regression acts again
    new = [c for c in failed if c.name not in state["actions"]]
    evidence_actions: dict[str, Any] = {}
    if new and settings.on_regression:
        from gates.monitor.actions import take
        from gates.notify.message import from_report

        preview = GateResult(GATE, checks=list(checks))
        message = from_report({"status": preview.status.value, "exit_code": 1, "gates": [preview.to_dict()]})
        action_checks, evidence_actions = take(
            list(settings.on_regression), new, settings, notify, message, env
        )
        checks += action_checks
        for c in new:
            state["actions"][c.name] = {"since": st.now_iso(), **evidence_actions}
    st.save(state_path, state)

    summary = {
        "new rows": evidence.new_rows,
        "alarms": sum(1 for c in checks if c.name.startswith("change ") and c.status is Status.FAIL),
        "runs": state["runs"],
        "method": design["method"],
        "arl0": design["arl0_blocks"],
    }
    return GateResult(
        GATE,
        checks=checks,
        summary=summary,
        evidence={
            "state": str(state_path),
            "source": source.model_dump(mode="json", exclude_unset=True),
            "reference": str(reference),
            "reference_moments": {c: {"mean": m, "sd": s} for c, (m, s) in moments.items()},
            "design": design,
            "observations": observations,
            "queries": evidence.queries,
            "notes": notes,
            "actions": evidence_actions,
            "recent_alarms": state["alarms"][-10:],
        },
    )


def traffic_check(evidence: Evidence, no_data: str) -> Check:
    if evidence.new_rows > 0:
        return Check(
            "traffic",
            Status.PASS,
            f"{evidence.new_rows} new predictions since the last run",
            value=evidence.new_rows,
        )
    status = Status.WARN if no_data == "warn" else Status.ERROR
    return Check(
        "traffic",
        status,
        "no new predictions since the last run: nothing to judge (a stopped log pipeline looks the same)",
        value=0,
    )


def forgotten_check(names: list[str]) -> Check:
    """Files the state had forgotten came back: not read (their rows were counted), but said, since a new file
    that arrived with an old modification time would look the same (gates.monitor.state)."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return Check(
        "forgotten logs",
        Status.WARN,
        f"{len(names)} log files at or below the state's mark of forgotten files were not read again "
        f"(counted before they were forgotten; a new file needs a newer modification time): {shown}",
        value=len(names),
        details={"files": names},
    )


def change_check(
    column: str, detector: cp.Detector, zs: list[float], alarms: list[int], design: dict[str, Any]
) -> Check:
    name = f"change {column}"
    arl0 = design["arl0_blocks"]
    details = {
        "blocks": len(zs),
        "statistic": detector.statistic,
        "threshold": detector.threshold,
        "alarm_blocks": alarms,
    }
    if alarms:
        direction = "up" if zs and np.mean(zs[-3:]) > 0 else "down"
        why = (
            f"{design['method']} alarm on the mean of '{column}' ({direction}) at block {alarms[0]} of this detector; "
            f"false alarms come about once per {arl0:g} blocks of the whole monitor"
        )
        return Check(
            name,
            Status.FAIL,
            why,
            value=round(detector.statistic, 4),
            threshold=f"> {detector.threshold:.4g}",
            details=details,
        )
    why = (
        f"no change in the mean of '{column}' over {len(zs)} new blocks (statistic {detector.statistic:.3g} of "
        f"{detector.threshold:.3g}; ARL0 {arl0:g} blocks)"
    )
    return Check(
        name,
        Status.PASS,
        why,
        value=round(detector.statistic, 4),
        threshold=f"<= {detector.threshold:.4g}",
        details=details,
    )


def window_checks(
    settings: MonitorSettings, evidence: Evidence, reference: Path, ctx: GateContext
) -> list[Check]:
    """The drift gate's tests on this run's window (logs), or the service's drift gauges (Prometheus)."""
    drift = settings.drift
    if not drift.enabled:
        return []
    if evidence.psi:
        limit = drift.psi_max
        worst = max(evidence.psi, key=lambda f: evidence.psi[f])
        value = evidence.psi[worst]
        status = Status.FAIL if value > limit else Status.PASS
        return [
            Check(
                "drift window",
                status,
                f"largest PSI of the service's window: {worst} {value:.3f} ({'above' if value > limit else 'within'} {limit:g})",
                value=round(value, 6),
                threshold=f"<= {limit:g}",
                details={"psi": evidence.psi},
            )
        ]
    if evidence.window_file is None:
        return []
    drift_keys = drift.drift_keys()
    minimum = int(drift_keys.get("min_rows", 30))
    if evidence.new_rows < minimum:
        why = (
            f"{evidence.new_rows} new rows, fewer than {minimum}: the window is not tested for drift this run"
        )
        return [
            Check("drift window", Status.WARN, why, value=evidence.new_rows, threshold=f">= {minimum} rows")
        ]
    from gates.drift import evaluate, open_reference
    from gates.readers.columns import ColumnSource

    columns = list(dict.fromkeys([*settings.source.features, settings.source.score]))
    window = {
        "columns": columns,
        **drift_keys,
        "reference": str(reference),
        "current": str(evidence.window_file),
    }
    result = evaluate(open_reference(reference), ColumnSource(evidence.window_file), window)
    drifted = result.evidence.get("drifted") or []
    why = (
        f"drift test on the {evidence.new_rows} new rows: {len(drifted)} of {len(columns)} columns drifted"
        + (f" ({', '.join(drifted)})" if drifted else "")
    )
    status = result.status if result.status is not Status.ERROR else Status.WARN
    return [
        Check(
            "drift window",
            status,
            why,
            value=len(drifted),
            details={"columns": result.evidence.get("columns")},
        )
    ]
