"""Jittered exponential backoff: the one way the project waits before trying again."""
from __future__ import annotations

import random
import time

__all__ = ["Backoff"]


class Backoff:
    """Delays ``first_s, 2*first_s, ...`` capped at ``max_s``, each scaled by a random factor in
    [0.5, 1.5) so that many clients refused at once do not come back at once, within ``total_s``.

    ``next_delay()`` gives the next delay (the last one shortened to end at the deadline, so the
    last try comes ``total_s`` after the first call), or None once the deadline has passed;
    ``tries`` counts the delays given."""

    def __init__(self, first_s: float, max_s: float, total_s: float) -> None:
        self.first_s, self.max_s, self.total_s = first_s, max_s, total_s
        self.tries = 0
        self._deadline: float | None = None

    def next_delay(self) -> float | None:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.total_s
        left = self._deadline - now
        if left <= 0:
            return None
        delay = min(self.max_s, self.first_s * 2 ** self.tries) * random.uniform(0.5, 1.5)
        self.tries += 1
        return min(delay, left)

    def sleep(self) -> bool:
        """Sleep the next delay; False (without sleeping) once the time is up."""
        delay = self.next_delay()
        if delay is None:
            return False
        time.sleep(delay)
        return True
