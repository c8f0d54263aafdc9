"""`mlgate monitor`: one scheduled run of the production monitor (see gates.monitor.run).

    mlgate monitor --policy gates.yml --state monitor-state.json

Exit codes: 0 nothing regressed, 1 a detector alarmed, the window drifted, accuracy or calibration regressed, or
no new traffic arrived (no_data: error), 2 bad policy, logs or a damaged state file (one line), 3 Prometheus
unreachable. The state is only written when the run read its evidence, so a failed run can simply be repeated.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from gates.core.errors import InfraError, InputError


@click.command()
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="State file kept between runs (default: the policy's monitor.state, else REPORT_DIR/monitor-state.json).",
)
@click.option(
    "--prometheus-url", envvar="MLGATE_PROMETHEUS_URL", help="Prometheus base URL (source kind prometheus)."
)
@click.pass_obj
def monitor(session, state_path: Path | None, prometheus_url: str | None) -> int:
    """Watch the served model: change detection, window drift, labelled accuracy and calibration."""
    from gates.core.result import error_result
    from gates.core.settings.monitor import MonitorSettings
    from gates.core.settings.notify import NotifySettings
    from gates.monitor.run import GATE, run_monitor

    if session.policy.section("monitor") is None:
        raise InputError(f"{session.policy.source}: no 'monitor' section (source and reference are needed)")
    overrides = {"source": {"url": prometheus_url}} if prometheus_url else {}
    settings = session.settings_of(MonitorSettings, overrides)
    ctx = session.context()
    if state_path is None:
        state_path = (
            ctx.path(settings.state, what="monitor state", must_exist=False)
            if settings.state
            else session.resolved_report_dir() / "monitor-state.json"
        )
    notify = session.settings_of(NotifySettings) if session.policy.section("notify") is not None else None
    try:
        result = run_monitor(settings, ctx, Path(state_path), env=dict(os.environ), notify_section=notify)
    except InputError as exc:
        result = error_result(GATE, str(exc), 2)
    except InfraError as exc:
        result = error_result(GATE, str(exc), 3)
    return session.finish([result])
