"""Notifications: gate results, promotions, rollbacks and monitor alerts to Slack, Microsoft Teams or any JSON
webhook (one module per channel; common.py holds the retry and redaction every channel shares)."""

from gates.notify.common import Delivery, Message
from gates.notify.message import from_report
from gates.notify.send import after_command, send

__all__ = ["Delivery", "Message", "after_command", "from_report", "send"]
