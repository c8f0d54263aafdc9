"""Notifications against a real HTTP receiver on 127.0.0.1: payload formats, retries, bounds and redaction."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.notify import Message, from_report, send
from gates.notify.common import Redactor, RetryPolicy, check_url, post_json, retry_after

SECRET = "T0001/B0002/s3cr3tT0k3nValue"
MESSAGE = Message(
    event="rollback",
    status="fail",
    title="mlgate rollback: FAIL (canary)",
    lines=("canary: fail: verdict: rolled back <img> & co",),
    facts=(("status", "fail"), ("canary image", "ghcr.io/acme/model:2")),
    link="https://github.com/acme/model/actions/runs/1",
)


def section(kind: str, env_name: str = "HOOK_URL", **extra):
    return {"targets": [{"kind": kind, "url_env": env_name}], "backoff_seconds": 0.01, **extra}


def no_sleep(recorded: list[float]):
    return recorded.append


def test_slack_payload_is_block_kit_with_fallback_text(receiver):
    env = {"HOOK_URL": f"{receiver.url}/ok/{SECRET}"}
    [delivery] = send(MESSAGE, section("slack"), env)
    assert delivery.sent and delivery.attempts == 1
    [body] = receiver.bodies("ok")
    assert body["text"].endswith("mlgate rollback: FAIL (canary)")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["type"] == "plain_text" and len(body["blocks"][0]["text"]["text"]) <= 150
    # mrkdwn control characters are escaped, so report text cannot forge links or mentions
    assert "&lt;img&gt; &amp; co" in body["blocks"][1]["text"]["text"]
    assert len(body["blocks"][2]["fields"]) <= 10
    assert receiver.requests[0].headers["Content-Type"] == "application/json"


def test_teams_payload_is_an_adaptive_card_attachment(receiver):
    env = {"HOOK_URL": f"{receiver.url}/accepted/{SECRET}"}  # Teams workflows answer 202
    [delivery] = send(MESSAGE, section("teams"), env)
    assert delivery.sent
    [body] = receiver.bodies("accepted")
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["color"] == "Attention"
    assert {"title": "canary image", "value": "ghcr.io/acme/model:2"} in card["body"][-1]["facts"]
    assert card["actions"][0]["url"] == MESSAGE.link


def test_generic_webhook_sends_the_message_and_secret_headers(receiver):
    env = {"HOOK_URL": f"{receiver.url}/ok/{SECRET}", "HOOK_TOKEN": "Bearer tok-123456"}
    settings_ = section("webhook")
    settings_["targets"][0]["headers_env"] = {"Authorization": "HOOK_TOKEN"}
    [delivery] = send(MESSAGE, settings_, env)
    assert delivery.sent
    request = receiver.requests[0]
    assert request.headers["Authorization"] == "Bearer tok-123456"
    assert request.body["event"] == "rollback" and request.body["status"] == "fail"
    assert request.body["source"] == "mlgate" and request.body["payload_version"] == "1"


def test_429_then_200_honours_retry_after(receiver):
    receiver.retry_after = "2"
    waits: list[float] = []
    env = {"HOOK_URL": f"{receiver.url}/flaky/{SECRET}"}
    [delivery] = send(MESSAGE, section("slack"), env, sleep=no_sleep(waits))
    assert delivery.sent and delivery.attempts == 2
    assert waits == [2.0]  # the receiver's Retry-After, not our backoff
    assert len(receiver.requests) == 2


def test_retry_after_beyond_the_bound_gives_up_at_once(receiver):
    receiver.retry_after = "3600"
    waits: list[float] = []
    env = {"HOOK_URL": f"{receiver.url}/flaky/{SECRET}"}
    [delivery] = send(MESSAGE, section("slack", max_wait_seconds=30), env, sleep=no_sleep(waits))
    assert not delivery.sent and delivery.attempts == 1 and waits == []
    assert "HTTP 429" in delivery.why and "30 s bound" in delivery.why


def test_500_forever_is_retried_a_bounded_number_of_times(receiver):
    waits: list[float] = []
    env = {"HOOK_URL": f"{receiver.url}/down/{SECRET}"}
    [delivery] = send(MESSAGE, section("webhook", retries=3), env, sleep=no_sleep(waits))
    assert not delivery.sent and delivery.attempts == 4 and len(receiver.requests) == 4
    assert len(waits) == 3 and all(
        b > a for a, b in itertools.pairwise(waits)
    )  # backoff doubles (jitter <= x2)
    assert "HTTP 500" in delivery.why and SECRET not in delivery.why and receiver.url not in delivery.why


def test_slow_receiver_times_out_within_the_bound(receiver):
    receiver.slow_seconds = 3
    env = {"HOOK_URL": f"{receiver.url}/slow/{SECRET}"}
    started = time.monotonic()
    [delivery] = send(MESSAGE, section("slack", retries=1, timeout_seconds=0.3), env)
    assert not delivery.sent and delivery.attempts == 2
    assert "no answer within 0.3 s" in delivery.why
    assert time.monotonic() - started < 2.5


def test_client_errors_and_redirects_are_not_retried(receiver):
    for kind in ("bad", "moved"):
        env = {"HOOK_URL": f"{receiver.url}/{kind}/{SECRET}"}
        [delivery] = send(MESSAGE, section("slack"), env, sleep=no_sleep([]))
        assert not delivery.sent and delivery.attempts == 1 and "not retried" in delivery.why
    assert [r.path.split("/")[1] for r in receiver.requests] == ["bad", "moved"]


def test_unset_variable_and_unsafe_urls_are_not_sent(receiver):
    [unset] = send(MESSAGE, section("slack"), {})
    assert not unset.sent and "HOOK_URL is not set" in unset.why
    [plain] = send(MESSAGE, section("slack"), {"HOOK_URL": "http://hooks.example.com/services/" + SECRET})
    assert not plain.sent and "plain http" in plain.why and SECRET not in plain.why
    [other] = send(MESSAGE, section("slack"), {"HOOK_URL": "file:///etc/passwd"})
    assert not other.sent and "not an http(s) URL" in other.why
    assert receiver.requests == []


def test_targets_filter_on_status_and_event(receiver):
    env = {"A": f"{receiver.url}/ok/a", "B": f"{receiver.url}/ok/b"}
    settings_ = {
        "targets": [
            {"kind": "webhook", "url_env": "A", "statuses": ["pass"]},
            {"kind": "webhook", "url_env": "B", "events": ["rollback"]},
        ]
    }
    deliveries = send(MESSAGE, settings_, env)
    assert [d.target for d in deliveries] == ["webhook (B)"]
    assert len(send(MESSAGE, settings_, env, force=True)) == 2


def test_redactor_hides_url_and_path():
    redact = Redactor()
    redact.add(f"https://hooks.slack.com/services/{SECRET}")
    text = redact(f"POST https://hooks.slack.com/services/{SECRET} and /services/{SECRET} failed")
    assert SECRET not in text and text.count("***") == 2


def test_retry_after_forms():
    assert retry_after("7") == 7.0
    assert retry_after("") is None and retry_after("soon") is None
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 <= (retry_after(format_datetime(when, usegmt=True)) or 0) <= 31
    assert retry_after("-5") == 0.0


def test_check_url():
    assert check_url("https://hooks.slack.com/x") is None
    assert check_url("http://127.0.0.1:8/x") is None
    assert check_url("http://example.com/x")
    assert check_url("ftp://x")


def test_connection_refused_is_a_failed_delivery_not_an_exception():
    sent, attempts, why = post_json(
        "http://127.0.0.1:9/nothing",
        {},
        policy=RetryPolicy(retries=1, backoff=0.01, timeout=1),
        redact=Redactor(),
        sleep=lambda s: None,
    )
    assert not sent and attempts == 2 and "cannot connect" in why


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_is_a_message_or_one_input_error(document):
    try:
        message = from_report(document)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert message.title and message.status


def test_report_message_names_rollback_first():
    document = {
        "status": "fail",
        "exit_code": 1,
        "gates": [
            {"gate": "metrics", "status": "pass", "checks": [{"name": "auc", "status": "pass", "why": "ok"}]},
            {
                "gate": "canary",
                "status": "fail",
                "summary": {"verdict": "rolled_back", "image": "m:2"},
                "checks": [{"name": "verdict", "status": "fail", "why": "error rate up"}],
            },
        ],
    }
    message = from_report(document)
    assert message.event == "rollback" and message.status == "fail"
    assert "canary: fail: verdict: error rate up" in message.lines
    assert ("canary image", "m:2") in message.facts


@pytest.mark.parametrize("document", [{"gates": []}, [], {"gates": "x"}])
def test_not_a_report(document):
    with pytest.raises(InputError):
        from_report(document, source="r.json")
