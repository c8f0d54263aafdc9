"""Microsoft Teams: an Adaptive Card posted to a Teams webhook (the Workflows "post to a channel when a webhook
request is received" flow, which replaced Office 365 connectors).

The documented request body is a message whose one attachment holds the card:
`{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content":
{AdaptiveCard}}]}`. Card version 1.4 is what Teams renders everywhere (desktop, web, mobile).
"""

from __future__ import annotations

from typing import Any

from gates.notify.common import STATUS_MARK, Message

# Adaptive Card TextBlock colours by status
_COLOUR = {"pass": "Good", "warn": "Warning", "fail": "Attention", "error": "Attention"}


def card(message: Message) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{STATUS_MARK.get(message.status, '')} {message.title}".strip(),
            "size": "Medium",
            "weight": "Bolder",
            "color": _COLOUR.get(message.status, "Default"),
            "wrap": True,
        }
    ]
    body.extend(
        {"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"} for line in message.lines
    )
    if message.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": key, "value": value} for key, value in message.facts]}
        )
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open the run", "url": message.link}]
    return content


def payload(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(message),
            }
        ],
    }
