"""A token bucket per client id, in this replica's memory.

Each replica enforces ``rate`` and ``burst`` on its own, so a client's ceiling across the fleet
is the replica count times the rate; the load balancer spreads a client over the replicas.
"""

from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client_id: str, cost: int = 1, now: float | None = None) -> float:
        """Spend ``cost`` tokens; returns 0 when allowed, else the seconds until it would be."""
        now = time.monotonic() if now is None else now
        cost_f = min(float(cost), self.burst)
        tokens, last = self._buckets.get(client_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost_f:
            self._buckets[client_id] = (tokens - cost_f, now)
            return 0.0
        self._buckets[client_id] = (tokens, now)
        return (cost_f - tokens) / self.rate
