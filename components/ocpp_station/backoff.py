"""Reconnect back-off of OCPP 2.0.1 Part 4 section 5.3 (used for 1.6J too).

The first reconnection waits `RetryBackOffWaitMinimum` plus a random part of at most
`RetryBackOffRandomRange`; each further failed attempt doubles the previous wait, at most
`RetryBackOffRepeatTimes` times, and adds a new random part each time; after that the
wait stays at the last value. The random part is what keeps 150 stations from
reconnecting in lockstep after a CSMS restart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class ReconnectBackoff:
    """`next_delay()` after each failure; `reset()` once a connection was accepted."""

    wait_minimum: float = 10.0
    random_range: float = 10.0
    repeat_times: int = 5
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts this failure."""
        doublings = min(self.failures, self.repeat_times)
        self.failures += 1
        return self.wait_minimum * (2.0**doublings) + self.rng.uniform(0, self.random_range)

    def reset(self) -> None:
        self.failures = 0

    def configure(self, wait_minimum: float, random_range: float, repeat_times: int) -> None:
        """Apply values changed by the CSMS (SetVariables / ChangeConfiguration)."""
        self.wait_minimum = max(0.0, float(wait_minimum))
        self.random_range = max(0.0, float(random_range))
        self.repeat_times = max(0, int(repeat_times))
