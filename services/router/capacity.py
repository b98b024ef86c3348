"""Capacity planning: reviewers needed per interval, and the risk of missing deadlines.

Two models (handbook, DOMAIN.md section 5):

* Erlang C for queues with minute-level SLAs: offered load ``A = arrivals x AHT``; the smallest
  ``N > A`` whose service level ``1 - C(N, A) * exp(-(N - A) * t / AHT)`` reaches the target and
  whose occupancy ``A / N`` stays under the cap.
* The backlog model for hour/day queues: required throughput = backlog / clearance time + inflow;
  seats = throughput x AHT / occupancy.

Both report seats (reviewers working) and FTE (seats / (1 - shrinkage)). Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Up to this offered load (Erlangs) the staffing search walks the Erlang B recursion one server
# at a time (linear in N, well under a second); beyond it, Erlang B is read from the Poisson
# distribution in log space and the fewest servers are found by bisection (logarithmic in N).
LINEAR_SEARCH_ERLANGS = 10_000.0


def erlang_b_log(servers: int, load: float) -> float:
    """Erlang B as the Poisson ratio ``pmf(N; A) / cdf(N; A)``, exact for any N and A > 0."""
    from scipy.stats import poisson

    return float(math.exp(poisson.logpmf(servers, load) - poisson.logcdf(servers, load)))


def _level_and_wait(
    servers: int, load: float, b: float, target: float, aht: float
) -> tuple[float, float]:
    wait = servers * b / (servers - load * (1 - b))
    return 1.0 - wait * math.exp(-(servers - load) * target / aht), wait


def _bisect_servers(low: int, load: float, aht: float, target: float, goal: float) -> int:
    """The fewest servers from ``low`` up whose service level reaches ``goal`` (it grows with N)."""

    def enough(n: int) -> bool:
        return _level_and_wait(n, load, erlang_b_log(n, load), target, aht)[0] >= goal

    if enough(low):
        return low
    step = max(1, math.ceil(math.sqrt(load)))
    high = low + step
    while not enough(high):
        low, high = high, high + step
        step *= 2
    while high - low > 1:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits, C(N, A); 1.0 when the queue is unstable (N <= A).

    Computed through the Erlang B recursion ``B(n) = A B(n-1) / (n + A B(n-1))``, then
    ``C = N B / (N - A (1 - B))``: no factorials, so it stays exact for hundreds of servers.
    """
    if load < 0:
        raise ValueError("load must be >= 0")
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return servers * b / (servers - load * (1 - b))


def service_level(servers: int, load: float, aht_seconds: float, target_seconds: float) -> float:
    """Share of arrivals answered within ``target_seconds``: 1 - C(N, A) e^{-(N-A) t / AHT}."""
    if servers <= load:
        return 0.0
    wait = erlang_c(servers, load)
    return 1.0 - wait * math.exp(-(servers - load) * target_seconds / aht_seconds)


@dataclass(frozen=True)
class Staffing:
    """Reviewers needed for one queue and interval, and what that staffing achieves."""

    model: str  # erlang_c | backlog
    load_erlangs: float
    seats: int
    fte: float
    occupancy: float
    service_level: float | None = None
    waiting_probability: float | None = None
    average_wait_seconds: float | None = None
    throughput_per_hour: float | None = None


def erlang_staffing(
    *,
    arrivals_per_hour: float,
    aht_seconds: float,
    target_seconds: float,
    service_level_target: float,
    occupancy_cap: float = 1.0,
    shrinkage: float = 0.0,
) -> Staffing:
    """The fewest reviewers that answer ``service_level_target`` of arrivals within the target."""
    _check(aht_seconds=aht_seconds, occupancy_cap=occupancy_cap, shrinkage=shrinkage)
    if not 0 < service_level_target < 1:
        raise ValueError("service_level_target must be in (0, 1)")
    load = arrivals_per_hour * aht_seconds / 3600
    if load == 0:
        return Staffing("erlang_c", 0.0, 0, 0.0, 0.0, 1.0, 0.0, 0.0)
    # The occupancy cap alone needs A / cap servers; start there (and above A).
    n = max(math.floor(load) + 1, math.ceil(load / occupancy_cap - 1e-9))
    if load > LINEAR_SEARCH_ERLANGS:
        n = _bisect_servers(n, load, aht_seconds, target_seconds, service_level_target)
        level, wait = _level_and_wait(n, load, erlang_b_log(n, load), target_seconds, aht_seconds)
    else:
        # Add one server at a time, carrying Erlang B forward: linear in N.
        b = 1.0
        for k in range(1, n + 1):
            b = load * b / (k + load * b)
        while True:
            level, wait = _level_and_wait(n, load, b, target_seconds, aht_seconds)
            if level >= service_level_target:
                break
            n += 1
            b = load * b / (n + load * b)
    return Staffing(
        model="erlang_c",
        load_erlangs=load,
        seats=n,
        fte=math.ceil(n / (1 - shrinkage) * 100) / 100,
        occupancy=load / n,
        service_level=level,
        waiting_probability=wait,
        average_wait_seconds=wait * aht_seconds / (n - load),
    )


def backlog_staffing(
    *,
    arrivals_per_hour: float,
    backlog: int,
    clearance_hours: float,
    aht_seconds: float,
    occupancy_cap: float = 1.0,
    shrinkage: float = 0.0,
) -> Staffing:
    """Seats to take in the inflow and clear the backlog within ``clearance_hours``."""
    _check(aht_seconds=aht_seconds, occupancy_cap=occupancy_cap, shrinkage=shrinkage)
    if clearance_hours <= 0:
        raise ValueError("clearance_hours must be > 0")
    throughput = backlog / clearance_hours + arrivals_per_hour
    exact = throughput * aht_seconds / 3600 / occupancy_cap
    seats = math.ceil(exact - 1e-9)
    return Staffing(
        model="backlog",
        load_erlangs=arrivals_per_hour * aht_seconds / 3600,
        seats=seats,
        fte=math.ceil(exact / (1 - shrinkage) * 100) / 100,
        occupancy=(throughput * aht_seconds / 3600 / seats) if seats else 0.0,
        throughput_per_hour=throughput,
    )


def _check(*, aht_seconds: float, occupancy_cap: float, shrinkage: float) -> None:
    if aht_seconds <= 0:
        raise ValueError("aht_seconds must be > 0")
    if not 0 < occupancy_cap <= 1:
        raise ValueError("occupancy_cap must be in (0, 1]")
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")


@dataclass(frozen=True)
class BreachRisk:
    """A queue's projection: how long its backlog takes to clear, and how many cases miss."""

    queue: str
    backlog: int
    arrivals_per_hour: float
    aht_seconds: float
    reviewers: int
    capacity_per_hour: float
    seconds_to_clear: float  # inf when the reviewers on shift cannot outpace arrivals
    projected_breaches: int
    past_deadline: int


def project_breaches(
    *,
    queue: str,
    deadlines: Sequence[datetime],
    now: datetime,
    arrivals_per_hour: float,
    aht_seconds: float,
    reviewers: int,
) -> BreachRisk:
    """Work the open cases earliest deadline first at the reviewers' pace; count late ones.

    The k-th case (in deadline order) is done ``k x AHT / reviewers`` from now; it misses when that
    is after its deadline. Cases already past their deadline are worked first but counted apart
    (``past_deadline``): ``projected_breaches`` are the misses still ahead. Arrivals are not
    interleaved (under earliest-deadline-first they mostly queue behind older work); they do set
    the time to clear: ``backlog / (capacity - arrivals)``.
    """
    ordered = sorted(deadlines)
    capacity = reviewers * 3600 / aht_seconds if aht_seconds > 0 else 0.0
    past = sum(1 for d in ordered if d <= now)
    if capacity <= 0:
        misses = len(ordered) - past
    else:
        per_case = timedelta(seconds=aht_seconds / reviewers)
        misses = sum(
            1 for k, d in enumerate(ordered, start=1) if d > now and now + per_case * k > d
        )
    if not ordered:
        to_clear = 0.0
    elif capacity > arrivals_per_hour:
        to_clear = len(ordered) / (capacity - arrivals_per_hour) * 3600
    else:
        to_clear = math.inf
    return BreachRisk(
        queue=queue,
        backlog=len(ordered),
        arrivals_per_hour=arrivals_per_hour,
        aht_seconds=aht_seconds,
        reviewers=reviewers,
        capacity_per_hour=capacity,
        seconds_to_clear=to_clear,
        projected_breaches=misses,
        past_deadline=past,
    )
