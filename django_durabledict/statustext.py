"""Ages and times in words, for the status command and the admin page."""

from __future__ import annotations

import datetime


def describe_age(seconds: float | None) -> str:
    """``"12.3s ago"``, ``"4 min ago"``, ``"2 h 5 min ago"``; ``"never"``."""
    if seconds is None:
        return "never"
    if seconds < 60:
        return f"{seconds:.1f}s ago"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min ago"
    return f"{hours // 24} days ago"


def describe_time(timestamp: float | None) -> str:
    """A Unix time as ISO 8601 in UTC, to the second; ``"never"``."""
    if timestamp is None:
        return "never"
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.replace(microsecond=0).isoformat()
