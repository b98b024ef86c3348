from services.router.breaker import CircuitBreaker
from services.router.metrics import CIRCUIT_OPEN
from services.router.policy import BreakerConfig
from shared.taxonomy import PolicyArea


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONFIG = BreakerConfig(
    window_seconds=60,
    alpha=0.5,
    factor=4,
    min_count=10,
    warmup_windows=3,
    cooldown_seconds=300,
    signal_factor=4,
    signal_min_count=10,
)


def _steady(breaker: CircuitBreaker, clock: Clock, per_window: int, windows: int) -> None:
    for _ in range(windows):
        for _ in range(per_window):
            assert breaker.allow_action(PolicyArea.SPAM)
        clock.now += 60


def test_steady_traffic_keeps_the_breaker_closed() -> None:
    clock = Clock()
    breaker = CircuitBreaker(CONFIG, clock)
    _steady(breaker, clock, per_window=20, windows=10)
    assert not breaker.is_open(PolicyArea.SPAM)


def test_a_burst_far_above_the_baseline_opens_the_area_for_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(CONFIG, clock)
    _steady(breaker, clock, per_window=5, windows=5)
    allowed = [breaker.allow_action(PolicyArea.SPAM) for _ in range(100)]
    assert allowed.count(True) == 20  # trips once the window exceeds 4 x baseline (5)
    assert CIRCUIT_OPEN.labels("spam")._value.get() == 1
    assert breaker.allow_action(PolicyArea.HARASSMENT), "other areas are unaffected"
    clock.now += 301
    breaker.refresh()
    assert not breaker.is_open(PolicyArea.SPAM)
    assert CIRCUIT_OPEN.labels("spam")._value.get() == 0


def test_no_trip_during_warm_up() -> None:
    clock = Clock()
    breaker = CircuitBreaker(CONFIG, clock)
    assert all(breaker.allow_action(PolicyArea.SPAM) for _ in range(500))


def test_a_single_signal_spiking_opens_its_area() -> None:
    clock = Clock()
    breaker = CircuitBreaker(CONFIG, clock)
    for _ in range(5):
        breaker.observe_signals([("url-blocklist", PolicyArea.SCAMS_FRAUD)] * 3)
        clock.now += 60
    breaker.observe_signals([("url-blocklist", PolicyArea.SCAMS_FRAUD)] * 50)
    assert breaker.is_open(PolicyArea.SCAMS_FRAUD)
    assert not breaker.is_open(PolicyArea.SPAM)


def test_disabled_breaker_never_opens() -> None:
    breaker = CircuitBreaker(CONFIG.model_copy(update={"enabled": False, "warmup_windows": 0}))
    assert all(breaker.allow_action(PolicyArea.SPAM) for _ in range(1000))
