"""Durations, time zones and local wall-clock times.

Content is written in local time ("2026-12-03 20:00" in America/New_York) and stored in UTC.
Conversion goes through zoneinfo so daylight-saving changes land on the right instant; a local
time that does not exist (spring forward) or happens twice (fall back) is refused rather than
guessed, because a chat posted an hour off is worse than an error at `chatbot check` time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


class TimeFormatError(ValueError):
    """A duration, time or zone string that cannot be understood; the message says the form."""


def parse_duration(value: object) -> timedelta:
    """``45s``, ``10m``, ``1h30m``, ``2d``, ``250ms`` -> timedelta. A bare integer is seconds."""
    if isinstance(value, bool):
        raise TimeFormatError(f"{value!r} is not a duration; write it like 45s, 10m or 1h30m")
    if isinstance(value, int):
        return timedelta(seconds=value)
    text = str(value).strip().replace(" ", "")
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise TimeFormatError(f"{value!r} is not a duration; write it like 45s, 10m or 1h30m")
    days, hours, minutes, seconds, millis = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, milliseconds=millis)


def format_duration(delta: timedelta) -> str:
    """Inverse of ``parse_duration`` for display: ``timedelta(minutes=90)`` -> ``1h30m``,
    ``timedelta(milliseconds=250)`` -> ``250ms``."""
    total = round(delta / timedelta(milliseconds=1))
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; an unknown name gets a message with an example."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimeFormatError(
            f"unknown time zone {name!r}; use an IANA name such as America/New_York or UTC"
        ) from None


def to_utc_local(naive: datetime, tz: ZoneInfo) -> datetime:
    """Interpret a naive wall-clock time in ``tz`` and return the aware UTC instant.

    Nonexistent and ambiguous local times are errors: the two folds are compared after a round
    trip, which is how zoneinfo exposes both conditions.
    """
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise TimeFormatError(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks spring forward); "
                "pick a time outside the skipped hour"
            )
        raise TimeFormatError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (clocks fall back); "
            "write it with an explicit offset, e.g. 2026-11-01T01:30:00-04:00"
        )
    return first.astimezone(UTC)


_LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def parse_local_datetime(value: object, tz: ZoneInfo) -> datetime:
    """``2026-12-03 20:00`` (local to ``tz``) or ISO 8601 with an offset -> aware UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        raise TimeFormatError(f"{value} has no time of day; write it like 2026-12-03 20:00")
    else:
        text = str(value).strip()
        parsed_or_none = None
        try:  # ISO 8601 (most times are written so) in C; strptime is 20 times slower
            parsed_or_none = datetime.fromisoformat(text)
        except ValueError:
            for fmt in _LOCAL_FORMATS:  # the same without zero padding: 2026-1-5 9:00
                try:
                    parsed_or_none = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if parsed_or_none is None:
            raise TimeFormatError(
                f"{value!r} is not a date and time; write it like 2026-12-03 20:00 "
                "or 2026-12-03T20:00:00-05:00"
            )
        parsed = parsed_or_none
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return to_utc_local(parsed, tz)


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise TimeFormatError(f"{value!r} is not a date; write it like 2026-12-01") from None


def parse_clock_time(value: object) -> time:
    """``"10:00"`` -> time(10, 0). YAML 1.1 reads an unquoted 10:00 as 600 (sexagesimal)."""
    if isinstance(value, int) and not isinstance(value, bool):
        # PyYAML turns unquoted 10:00 into 600 minutes; undo it rather than surprise the user.
        hours, minutes = divmod(value, 60)
        if 0 <= hours < 24:
            return time(hours, minutes)
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise TimeFormatError(f'{value!r} is not a time of day; write it like "10:00"') from None


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s calendar month, in ``now``'s zone (UTC for spend)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def utcnow() -> datetime:
    return datetime.now(UTC)
