"""Thread-safe in-process counters, exposed on the admin /metrics endpoint."""

import threading
from collections import Counter


class Metrics:
    """A named set of monotonically increasing counters."""

    def __init__(self) -> None:
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def inc(self, name: str, value: int = 1) -> None:
        """Increase counter `name` by `value`."""
        with self._lock:
            self._counters[name] += value

    def snapshot(self) -> dict[str, int]:
        """A copy of all counters, sorted by name."""
        with self._lock:
            return dict(sorted(self._counters.items()))

    def reset(self) -> None:
        """Clear all counters (tests)."""
        with self._lock:
            self._counters.clear()


metrics = Metrics()
