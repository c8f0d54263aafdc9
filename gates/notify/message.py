"""From a JSON report (the document gates.formats.json_report writes) to one notification Message.

The report, not live objects, is the input: `mlgate notify --report` works on a report from an earlier step and
the hook after a command works on the same document, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gates.core.errors import InputError
from gates.core.registry import GATES
from gates.notify.common import Message

MAX_LINES = 10  # a chat message is read at a glance; the report holds the rest


def event_of(gate: Mapping[str, Any]) -> str:
    """What kind of news one gate result is: a promotion and a rollback matter more than a passed deploy."""
    name = str(gate.get("gate", ""))
    summary = gate.get("summary") or {}
    verdict = str(summary.get("verdict", "")) if isinstance(summary, Mapping) else ""
    if name in GATES:
        return "gate"
    if verdict in ("promoted", "switched"):
        return "promotion"
    if verdict in ("rolled_back", "switched_back") or name == "rollback":
        return "rollback"
    return name or "gate"


def _why(gate: Mapping[str, Any]) -> str:
    """The reason of the worst check, which is what a reader needs first."""
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    checks = [c for c in gate.get("checks") or [] if isinstance(c, Mapping)]
    if not checks:
        return "no checks"
    worst = min(checks, key=lambda c: order.get(str(c.get("status")), 4))
    return f"{worst.get('name')}: {worst.get('why')}"


def from_report(document: Any, link: str | None = None, source: str = "report") -> Message:
    """One Message for a whole report; InputError (exit 2) when `document` is not an mlgate report."""
    if not isinstance(document, Mapping) or not isinstance(document.get("gates"), list):
        raise InputError(f"{source}: not an mlgate JSON report (expected an object with a 'gates' list)")
    gates = [g for g in document["gates"] if isinstance(g, Mapping)]
    if not gates:
        raise InputError(f"{source}: the report holds no gate results")
    status = str(document.get("status") or "error")
    events = [event_of(g) for g in gates]
    # the most telling event names the message: a rollback outranks a promotion, which outranks the rest
    event = next((e for e in ("rollback", "promotion", "monitor") if e in events), events[0])
    names = ", ".join(str(g.get("gate")) for g in gates)
    title = f"mlgate {event}: {status.upper()} ({names})"
    lines = tuple(f"{g.get('gate')}: {g.get('status')}: {_why(g)}"[:300] for g in gates[:MAX_LINES])
    if len(gates) > MAX_LINES:
        lines += (f"... and {len(gates) - MAX_LINES} more gates in the report",)
    facts: list[tuple[str, str]] = [("status", status), ("exit code", str(document.get("exit_code", "")))]
    for g in gates:
        summary = g.get("summary") or {}
        if isinstance(summary, Mapping):
            for key in ("image", "environment", "verdict", "live", "alarms"):
                if summary.get(key) not in (None, "", [], {}):
                    facts.append((f"{g.get('gate')} {key}", str(summary[key])[:200]))
    return Message(event=event, status=status, title=title, lines=lines, facts=tuple(facts), link=link)
