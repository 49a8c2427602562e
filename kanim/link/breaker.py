"""Link health: a breaker with states up / degraded / down (pure: no I/O, no clock).

One failed round makes the link degraded, `down_after` failures in a row make it down; one
success makes it up again. While not up, the relay waits between attempts with exponential
backoff and full jitter (so a hundred offices returning at once do not stampede the central).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class LinkState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass
class Breaker:
    down_after: int = 3
    base_delay: float = 0.5
    # Kept short: after an outage the relay must notice the central's return within seconds,
    # and a probe every 10 s at worst costs the central nothing.
    max_delay: float = 10.0
    failures: int = 0
    state: LinkState = LinkState.UP

    def success(self) -> LinkState | None:
        """Returns the new state if it changed."""
        self.failures = 0
        return self._set(LinkState.UP)

    def failure(self) -> LinkState | None:
        self.failures += 1
        return self._set(LinkState.DOWN if self.failures >= self.down_after else LinkState.DEGRADED)

    def delay(self, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt: 0 while up."""
        if self.failures == 0:
            return 0.0
        ceiling = min(self.max_delay, self.base_delay * 2 ** (self.failures - 1))
        return (rng or random).uniform(0, ceiling)

    def _set(self, state: LinkState) -> LinkState | None:
        if state is self.state:
            return None
        self.state = state
        return state


def retry_delay(attempts: int, *, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Backoff for one operation the central answered with a transient error."""
    return (rng or random).uniform(base / 2, min(cap, base * 2 ** max(0, attempts - 1)))
