"""What every notification target shares: the message built from a report, secret redaction, and one bounded
HTTP POST with retries.

Why a module of its own: Slack, Teams and the generic webhook differ only in the JSON they send. How a message is
summarised, how a webhook URL (itself a secret: whoever holds it can post) is kept out of every line mlgate prints,
and how 429 / 5xx answers are retried must be the same for all three, so they live here once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from gates import __version__

# Answers worth another try: rate limited, or the receiver failed. Any other 4xx will not change on a retry.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
STATUS_MARK = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "⛔"}


@dataclass(frozen=True)
class Message:
    """What a notification says, whatever the channel: an event, its status and one line per gate."""

    event: str  # gate, deploy, promotion, rollback, canary, monitor
    status: str  # pass, warn, fail, error
    title: str
    lines: tuple[str, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    link: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "status": self.status,
            "title": self.title,
            "lines": list(self.lines),
            "facts": dict(self.facts),
            "link": self.link,
        }


@dataclass
class Redactor:
    """Every secret value mlgate handles for notifications, so no message, log or report line holds one.

    A webhook URL is registered whole and also by its path (a proxy or library may print the path alone)."""

    secrets: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) >= 4:
            self.secrets.add(value)
        parts = urlsplit(value)
        if parts.scheme and parts.path and len(parts.path) > 1:
            self.secrets.add(parts.path + (f"?{parts.query}" if parts.query else ""))

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class Delivery:
    """How one target fared. `why` is already redacted."""

    target: str
    sent: bool
    attempts: int
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "sent": self.sent, "attempts": self.attempts, "why": self.why}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `retries` more attempts and `max_wait` seconds of waiting in all."""

    retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0
    timeout: float = 10.0


def check_url(url: str) -> str | None:
    """Why `url` may not receive a secret-bearing POST, or None when it may (https, or http to loopback)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS:
        return None
    if parts.scheme == "http":
        return "is plain http to a remote host (the URL is a secret): use https"
    return "is not an http(s) URL"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def post_json(
    url: str,
    payload: Any,
    *,
    policy: RetryPolicy,
    redact: Redactor,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> tuple[bool, int, str]:
    """POST `payload` as JSON until a 2xx answer, a final refusal, or the retry bound. Returns (sent, attempts,
    why); never raises for network or HTTP trouble and never names the URL."""
    if session is None:
        with requests.Session() as own:
            return post_json(
                url, payload, policy=policy, redact=redact, headers=headers, sleep=sleep, session=own
            )
    waited = 0.0
    last = ""
    send_headers = {
        "Content-Type": "application/json",
        "User-Agent": f"mlgate/{__version__}",
        **(headers or {}),
    }
    for attempt in range(1, policy.retries + 2):
        pause: float | None = None
        try:
            response = session.post(
                url, json=payload, headers=send_headers, timeout=policy.timeout, allow_redirects=False
            )
        except requests.exceptions.Timeout:
            last = f"no answer within {policy.timeout:g} s"
        except requests.exceptions.RequestException as exc:
            last = f"cannot connect ({type(exc).__name__})"
        else:
            status = response.status_code
            if 200 <= status < 300:
                return True, attempt, f"HTTP {status}"
            last = f"HTTP {status}{_reason(response)}"
            if status not in RETRYABLE:
                return False, attempt, redact(f"{last}: refused, not retried")
            pause = retry_after(response.headers.get("Retry-After"))
        if attempt > policy.retries:
            break
        if pause is None:  # exponential backoff with jitter, so many senders do not retry in step
            pause = policy.backoff * (2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        if waited + pause > policy.max_wait:
            return (
                False,
                attempt,
                redact(
                    f"{last}; the next try would wait {pause:.3g} s, past the {policy.max_wait:g} s bound"
                ),
            )
        sleep(pause)
        waited += pause
    return False, policy.retries + 1, redact(f"{last} after {policy.retries + 1} attempts")


def _reason(response: requests.Response) -> str:
    reason = (response.reason or "").strip()
    return f" {reason[:60]}" if reason else ""
