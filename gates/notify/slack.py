"""Slack incoming webhooks: a message as Block Kit blocks with a plain `text` fallback.

Slack's documented payload for an incoming webhook is `{"text": ..., "blocks": [...]}`; `text` is what
notifications and screen readers show, the blocks what the channel shows. Slack limits a header to 150
characters, a section text to 3000 and a section to 10 fields, so the payload is cut to fit rather than refused.
"""

from __future__ import annotations

from typing import Any

from gates.notify.common import STATUS_MARK, Message


def escape(text: str) -> str:
    """Slack's mrkdwn gives &, < and > a meaning (links, mentions); report text must show them literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(message: Message) -> dict[str, Any]:
    mark = STATUS_MARK.get(message.status, "")
    fallback = f"{mark} {message.title}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fallback[:150], "emoji": True}},
    ]
    if message.lines:
        body = "\n".join(f"• {escape(line)}" for line in message.lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    if message.facts:
        fields = [
            {"type": "mrkdwn", "text": f"*{escape(key)}*\n{escape(value)}"[:2000]}
            for key, value in message.facts[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    if message.link:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{message.link}|Open the run>"}]}
        )
    return {"text": fallback, "blocks": blocks}
