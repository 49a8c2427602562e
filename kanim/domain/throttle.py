"""Login throttling: how long a bucket of failed password checks must wait before the next try.

Two buckets are charged for every failed login: one per account (strict: a few free tries, then
doubling delays, then a lock an admin lifts or that ends by itself) and one per client address
(looser, never a lock: one desk's typos must not lock the office out, but one address cannot
try a few passwords on every account either). Pure rules; kanim/office/throttle.py keeps the
buckets in the database so every worker process and a restart see the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int  # failures in a row allowed before any wait
    first_delay: timedelta  # the wait after the first failure beyond the free ones; doubles after each
    max_delay: timedelta
    lock_after: int | None  # failures in a row that lock the bucket; None: never locked
    lock_for: timedelta  # how long a lock lasts unless an admin lifts it first
    forget_after: timedelta  # a bucket quiet this long (and not locked) starts again from zero


@dataclass(frozen=True)
class Bucket:
    failures: int = 0
    last_failed_at: datetime | None = None
    blocked_until: datetime | None = None  # the back-off after the latest failure
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def retry_after(bucket: Bucket, now: datetime) -> timedelta:
    """How long before this bucket lets a password be checked again (zero: now)."""
    until = max((t for t in (bucket.blocked_until, bucket.locked_until) if t is not None), default=None)
    return max(until - now, timedelta(0)) if until is not None else timedelta(0)


def after_failure(bucket: Bucket, now: datetime, policy: ThrottlePolicy) -> Bucket:
    """The bucket once one more password check has failed."""
    if _forgotten(bucket, now, policy):
        bucket = Bucket()
    failures = bucket.failures + 1
    if policy.lock_after is not None and failures >= policy.lock_after:
        # Past the lock threshold every failure locks again: once a lock runs out by itself,
        # a guesser gets one try per lock period, not a fresh set of free ones.
        return Bucket(failures, now, None, now + policy.lock_for)
    blocked = now + delay_after(failures, policy) if failures >= policy.free_failures else None
    return Bucket(failures, now, blocked, bucket.locked_until if bucket.is_locked(now) else None)


def after_success(bucket: Bucket) -> Bucket:
    """An account's bucket once its password was right: the failures were typos."""
    return Bucket()


def undo_failure(bucket: Bucket, policy: ThrottlePolicy) -> Bucket:
    """Take back one failure charged ahead of a check that then succeeded (an address's bucket:
    a right password does not clear the failures others made from the same address)."""
    failures = max(bucket.failures - 1, 0)
    blocked = bucket.blocked_until if failures >= policy.free_failures else None
    return replace(bucket, failures=failures, blocked_until=blocked)


def delay_after(failures: int, policy: ThrottlePolicy) -> timedelta:
    """The back-off after the n-th failure in a row: nothing while free, then doubling, capped."""
    beyond = failures - policy.free_failures
    if beyond < 0:
        return timedelta(0)
    # min() before the power: 2 ** a large count would be a huge number for nothing.
    return min(policy.first_delay * (2 ** min(beyond, 32)), policy.max_delay)


def _forgotten(bucket: Bucket, now: datetime, policy: ThrottlePolicy) -> bool:
    if bucket.last_failed_at is None or bucket.is_locked(now):
        return False
    return now - bucket.last_failed_at >= policy.forget_after
