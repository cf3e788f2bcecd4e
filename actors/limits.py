"""A Redis-backed limiter for one service, shared by every worker process.

Three keys under ``<namespace>:limits:<service>``:

* ``:slots`` — a sorted set of concurrency leases (member: holder, score: lease expiry).
  A lease expires by itself, so a worker killed with SIGKILL cannot hold a slot forever;
  leases of dead processes on this host are reaped at once when the set is full.
* ``:bucket`` — a token bucket (``tokens``, ``ts``) refilled at the current rate, holding
  at most one second of it (and at least one token), so a burst stays small.
* ``:aimd`` — the adaptive rate (``rate``, ``decreased_at``, see ``actors.aimd``) and
  ``paused_until`` (a service's ``Retry-After``).

Taking a slot and tokens is one Lua script, so two workers never take the last token
twice. Adjusting the rate is an optimistic WATCH/MULTI on ``:aimd`` only, which the
acquire script reads but never writes. Everything is lost on a Redis flush, which is
harmless: the limiter starts again at the configured ceiling. Idle keys expire after an
hour.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from actors.aimd import AimdParams, AimdState, initial, on_signal
from pipeline.signals import Signal

log = logging.getLogger(__name__)

#: A limiter left alone this long forgets its state (and starts again at the ceiling).
IDLE_EXPIRY_SECONDS = 3600
#: How long a busy limiter tells a caller to wait before asking again.
BUSY_RETRY_SECONDS = 0.2
#: A waiter's mark ends this much before its wait, so its own re-sent message never finds it.
WAITER_MARGIN_MS = 10

_ACQUIRE = """
local now = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local max_rate = tonumber(ARGV[3])
local a = redis.call('HMGET', KEYS[3], 'rate', 'paused_until')
local rate = math.min(tonumber(a[1]) or max_rate, max_rate)
local paused_until = tonumber(a[2]) or 0
if paused_until > now then
  return {0, tostring(paused_until - now), 'paused', tostring(rate)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return {0, ARGV[8], 'busy', tostring(rate)}
end
local cap = math.max(1, rate * tonumber(ARGV[7]))
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  return {0, tostring((1 - tokens) / rate), 'rate', tostring(rate)}
end
local take = math.min(want, math.floor(tokens))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - take), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 3600000)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
redis.call('PEXPIRE', KEYS[2], 3600000)
return {take, '0', 'ok', tostring(rate)}
"""


@dataclass(frozen=True)
class Permit:
    """What ``acquire`` granted: ``tokens`` requests (0: none; wait ``wait`` seconds)."""

    tokens: int
    wait: float = 0.0
    reason: str = "ok"
    holder: str | None = None
    #: The service's shared rate when the permit was granted (None: unknown).
    rate: float | None = None

    @property
    def granted(self) -> bool:
        return self.tokens > 0


def _holder_prefix() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServiceLimiter:
    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        service: str,
        *,
        max_concurrency: int,
        params: AimdParams,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.params = params
        self.max_concurrency = max_concurrency
        self._client = client
        self._lease = lease_seconds
        self._clock = clock
        base = f"{namespace}:limits:{service}"
        self.bucket_key, self.slots_key, self.aimd_key = (
            f"{base}:bucket",
            f"{base}:slots",
            f"{base}:aimd",
        )
        self._waiter_base = f"{base}:waiter"
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(self, want: int) -> Permit:
        """Take a concurrency slot and up to ``want`` tokens (at least one), or say how
        long to wait: ``paused`` (Retry-After), ``busy`` (no slot) or ``rate`` (no token)."""
        permit = self._try(want)
        if permit.reason == "busy" and self._reap_dead_holders():
            permit = self._try(want)
        return permit

    def _try(self, want: int) -> Permit:
        now = self._clock()
        holder = f"{_holder_prefix()}{uuid.uuid4().hex}"
        tokens, wait, reason, rate = self._acquire(
            keys=[self.bucket_key, self.slots_key, self.aimd_key],
            args=[
                repr(now),
                max(1, want),
                repr(self.params.max_rate),
                self.max_concurrency,
                repr(now + self._lease),
                holder,
                1.0,
                repr(BUSY_RETRY_SECONDS),
            ],
        )
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        if int(tokens) > 0:
            return Permit(int(tokens), 0.0, reason, holder, float(rate))
        return Permit(0, max(float(wait), 0.01), reason, rate=float(rate))

    def release(self, permit: Permit, unused: int = 0, waiters: Iterable[str] = ()) -> list[str]:
        """Give the slot back, and the tokens that were taken but not spent.

        ``waiters``: the names (stages) that may have been turned away while the slot was
        held. Their waiter marks are cleared in the same round trip, and the names whose
        mark was set are returned: the caller wakes them now, rather than leaving them to
        their delayed re-send (whose mark may still block it) or to the sweeper.
        """
        if permit.holder is None:
            return []
        names = list(waiters)
        with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.delete(self._waiter_key(name))
            pipe.zrem(self.slots_key, permit.holder)
            if unused > 0:
                pipe.hincrbyfloat(self.bucket_key, "tokens", min(unused, permit.tokens))
            replies = pipe.execute()
        return [name for name, deleted in zip(names, replies, strict=False) if deleted]

    def record(self, signals: Iterable[Signal], rate_seen: float | None = None) -> AimdState | None:
        """Adjust the shared rate to what calls to this service showed; honour Retry-After.

        ``rate_seen``: the rate the caller's permit was granted at. Quick successes at the
        ceiling change nothing, so then no optimistic transaction is run (six Redis round
        trips saved on almost every submit of a healthy service).
        """
        mine = [s for s in signals if s.service == self.service]
        if not mine or (rate_seen is not None and self._changes_nothing(mine, rate_seen)):
            return None
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.aimd_key)
                    rate, decreased_at, paused = pipe.hmget(
                        self.aimd_key, "rate", "decreased_at", "paused_until"
                    )
                    state = initial(self.params)
                    if rate is not None:
                        state = AimdState(
                            float(rate), float(decreased_at) if decreased_at else -math.inf
                        )
                    now = self._clock()
                    for signal in mine:
                        state = on_signal(self.params, state, signal.kind, signal.latency, now)
                    pause_until = max(
                        (now + s.retry_after for s in mine if s.retry_after and s.kind != "ok"),
                        default=0.0,
                    )
                    fields = {"rate": repr(state.rate)}
                    if math.isfinite(state.decreased_at):
                        fields["decreased_at"] = repr(state.decreased_at)
                    if pause_until > float(paused or 0):
                        fields["paused_until"] = repr(pause_until)
                    pipe.multi()
                    pipe.hset(self.aimd_key, mapping=fields)
                    pipe.expire(self.aimd_key, IDLE_EXPIRY_SECONDS)
                    pipe.execute()
                    return state
                except redis.WatchError:
                    continue

    def _changes_nothing(self, signals: list[Signal], rate_seen: float) -> bool:
        return rate_seen >= self.params.max_rate and all(
            s.kind == "ok" and s.latency <= self.params.latency_target for s in signals
        )

    def claim_waiter(self, name: str, wait: float) -> bool:
        """True for one caller per ``name`` while it waits ``wait`` seconds: the one that
        re-sends its message. The others drop theirs (the sweeper is the safety net), so a
        long pause never piles up messages.

        The mark ends ``WAITER_MARGIN_MS`` before the wait does: the re-sent message is due
        no earlier than the wait's end, so when it arrives and is turned away again, the mark
        is gone and it waits again. With a mark that outlived the wait (it had 250 ms more),
        the waiter's own message found its mark, was dropped, and nothing woke the stage
        until the sweeper: 1,000 leads took 14 s instead of 5 in the benchmark, with
        scraping stopped for 4 s. A mark of exactly the wait still lost that race now and
        then on the millisecond boundary (seen once in CI); ending it a little early costs
        at most a second waiter in those last milliseconds, one extra message.
        """
        ttl_ms = max(int(wait * 1000) - WAITER_MARGIN_MS, 1)
        return bool(self._client.set(self._waiter_key(name), 1, nx=True, px=ttl_ms))

    def _waiter_key(self, name: str) -> str:
        return f"{self._waiter_base}:{name}"

    def snapshot(self) -> dict[str, float]:
        """The current rate, pause and leases (for logs, tests and the soak report)."""
        rate, paused = self._client.hmget(self.aimd_key, "rate", "paused_until")
        return {
            "rate": float(rate) if rate is not None else self.params.max_rate,
            "paused_for": max(0.0, float(paused or 0) - self._clock()),
            "in_flight": self._client.zcount(self.slots_key, self._clock(), "+inf"),
        }

    def _reap_dead_holders(self) -> bool:
        """Drop leases held by processes of this host that no longer exist; True if any."""
        host = socket.gethostname()
        dead = []
        for raw in self._client.zrange(self.slots_key, 0, -1):
            member = raw.decode() if isinstance(raw, bytes) else raw
            parts = member.rsplit(":", 2)
            if len(parts) != 3 or parts[0] != host:
                continue
            with contextlib.suppress(ValueError):
                if not _pid_alive(int(parts[1])):
                    dead.append(member)
        if dead:
            self._client.zrem(self.slots_key, *dead)
            log.warning("%s limiter: reaped %d lease(s) of dead processes", self.service, len(dead))
        return bool(dead)
