"""The failed-login rules (kanim/domain/throttle.py), on a clock that stands still."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kanim.domain.throttle import Bucket, ThrottlePolicy, after_failure, after_success, delay_after, retry_after, undo_failure

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ACCOUNT = ThrottlePolicy(free_failures=5, first_delay=timedelta(seconds=2), max_delay=timedelta(minutes=5),
                         lock_after=10, lock_for=timedelta(hours=1), forget_after=timedelta(days=1))
ADDRESS = ThrottlePolicy(free_failures=20, first_delay=timedelta(seconds=1), max_delay=timedelta(minutes=15),
                         lock_after=None, lock_for=timedelta(0), forget_after=timedelta(hours=1))


def fail(n: int, policy: ThrottlePolicy, *, start: Bucket | None = None, at: datetime = T0) -> Bucket:
    b = start or Bucket()
    for _ in range(n):
        at = max(at, b.blocked_until or at)  # each try waits as long as it was told to
        b = after_failure(b, at, policy)
    return b


def test_the_first_failures_cost_no_wait() -> None:
    b = fail(4, ACCOUNT)
    assert b.failures == 4 and retry_after(b, T0) == timedelta(0)


def test_beyond_the_free_failures_the_wait_doubles_each_time() -> None:
    assert [delay_after(n, ACCOUNT).total_seconds() for n in range(4, 10)] == [0, 2, 4, 8, 16, 32]
    b = fail(5, ACCOUNT)
    assert retry_after(b, T0) == timedelta(seconds=2)


def test_the_wait_is_capped() -> None:
    assert delay_after(10_000, ADDRESS) == timedelta(minutes=15)


def test_an_account_locks_at_the_threshold_for_the_lock_period() -> None:
    b = fail(10, ACCOUNT)
    assert b.is_locked(b.last_failed_at) and b.locked_until == b.last_failed_at + timedelta(hours=1)
    assert retry_after(b, b.last_failed_at) == timedelta(hours=1)


def test_after_a_lock_runs_out_one_more_failure_locks_again() -> None:
    locked = fail(10, ACCOUNT)
    later = locked.locked_until + timedelta(seconds=1)
    assert retry_after(locked, later) == timedelta(0)
    again = after_failure(locked, later, ACCOUNT)
    assert again.is_locked(later) and again.failures == 11


def test_an_address_is_slowed_down_but_never_locked() -> None:
    b = fail(200, ADDRESS)
    assert b.locked_until is None
    assert retry_after(b, b.last_failed_at) == timedelta(minutes=15)


def test_a_quiet_bucket_starts_again_from_zero() -> None:
    b = fail(7, ACCOUNT)
    fresh = after_failure(b, b.last_failed_at + timedelta(days=1), ACCOUNT)
    assert fresh.failures == 1 and fresh.blocked_until is None


def test_a_locked_bucket_is_not_forgotten_while_locked() -> None:
    policy = ThrottlePolicy(5, timedelta(seconds=2), timedelta(minutes=5), 10, timedelta(days=3), timedelta(days=1))
    locked = fail(10, policy)
    two_days = locked.last_failed_at + timedelta(days=2)
    assert retry_after(locked, two_days) > timedelta(0)
    assert after_failure(locked, two_days, policy).failures == 11


def test_a_right_password_clears_the_account() -> None:
    assert after_success(fail(7, ACCOUNT)) == Bucket()


def test_taking_back_a_charged_check_lifts_the_wait_it_caused() -> None:
    b = fail(20, ADDRESS)  # the 20th was charged ahead of a check that then succeeded
    assert retry_after(b, b.last_failed_at) == timedelta(seconds=1)
    back = undo_failure(b, ADDRESS)
    assert back.failures == 19 and retry_after(back, b.last_failed_at) == timedelta(0)


def test_taking_back_a_check_keeps_a_wait_that_earlier_failures_earned() -> None:
    b = fail(25, ADDRESS)
    back = undo_failure(b, ADDRESS)
    assert back.failures == 24 and back.blocked_until == b.blocked_until
