"""Timezone-aware time helpers, including the working-hours window used by the support bot."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def parse_working_hours(spec: str) -> tuple[time, time]:
    """Parse "HH:MM-HH:MM" into (start, end); an end before the start means the window spans midnight."""
    try:
        start_text, end_text = spec.split("-", 1)
        return time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"invalid working hours {spec!r}, expected HH:MM-HH:MM") from exc


def is_within_working_hours(moment: datetime, window: tuple[time, time], tz_name: str = "UTC") -> bool:
    """Whether `moment` (naive = UTC) falls inside the window, evaluated in the `tz_name` timezone."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = aware.astimezone(ZoneInfo(tz_name)).time().replace(tzinfo=None)
    start, end = window
    if start <= end:
        return start <= local < end
    return local >= start or local < end
