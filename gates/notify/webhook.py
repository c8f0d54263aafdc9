"""A generic JSON webhook: the message as plain JSON, for PagerDuty-style relays, chat bridges or your own
receiver. Versioned so a receiver can tell what it gets."""

from __future__ import annotations

from typing import Any

from gates import __version__
from gates.notify.common import Message

PAYLOAD_VERSION = "1"


def payload(message: Message) -> dict[str, Any]:
    return {
        "source": "mlgate",
        "mlgate_version": __version__,
        "payload_version": PAYLOAD_VERSION,
        **message.to_dict(),
        "text": "\n".join((message.title, *message.lines)),
    }
