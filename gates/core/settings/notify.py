"""Settings of notifications (`notify:`): where a verdict is sent and how hard a delivery is retried."""

# ruff: noqa: RUF012 - pydantic copies a mutable default for every instance; it is never shared
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gates.core.settings.base import Section, Settings, UniqueItems

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Event = Literal["gate", "deploy", "promotion", "rollback", "canary", "monitor", "blue-green"]
Status = Literal["pass", "warn", "fail", "error"]


class Target(Settings):
    """One receiver of notifications."""

    kind: Literal["slack", "teams", "webhook"]
    """slack: incoming webhook (Block Kit); teams: Teams Workflows webhook (Adaptive Card); webhook: generic
    JSON."""
    url_env: EnvName
    """Environment variable holding the webhook URL (a secret: never put the URL in the policy)."""
    name: Annotated[str, Field(min_length=1)] | None = None
    """Name shown in logs (default: kind and variable)."""
    statuses: Annotated[list[Status], Field(min_length=1), UniqueItems()] = ["fail", "error"]
    """Statuses that are sent."""
    events: Annotated[list[Event], Field(min_length=1), UniqueItems()] | None = None
    """Events that are sent (default all)."""
    headers_env: dict[str, EnvName] = {}
    """Extra headers for a webhook, {header: environment variable holding its value} (e.g. Authorization)."""

    def label(self) -> str:
        """How the target is named in logs: its kind and the variable holding its URL, never the URL."""
        return self.name or f"{self.kind} ({self.url_env})"

    def wants(self, status: str, event: str) -> bool:
        """Whether a message of this status and event is sent here."""
        return status in self.statuses and (self.events is None or event in self.events)


class NotifySettings(Section):
    """Notifications to Slack, Microsoft Teams or a JSON webhook, for gate results, promotions, rollbacks and
    monitor alerts (mlgate notify, and after every command when after_commands is on). Webhook URLs come from
    environment variables and are never printed; a failed notification warns and never changes a verdict."""

    section = "notify"

    targets: Annotated[list[Target], Field(min_length=1)]
    after_commands: bool = True
    """Notify after run, deploy, canary, monitor and the other commands that write a report."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Further attempts after a 429, 5xx, timeout or connection error."""
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    """First backoff wait; doubles each retry, with jitter; Retry-After wins when the receiver sends it."""
    max_wait_seconds: Annotated[float, Field(ge=0, le=600)] = 60.0
    """Bound on the total waiting per target."""
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Timeout of each request."""
