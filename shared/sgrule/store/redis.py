"""Redis backend: for many Function Compute instances sharing one store.

Each read-modify-write is one Lua script, so it is atomic on the server with no WATCH/retry loop. Times
(leases, expiry) come from the server's ``TIME``: instances' clocks may disagree, the server's is the one
clock every instance sees. A record is a hash whose JSON fields (``sent_request``, ``outcome``) Lua never
decodes, so payloads round-trip byte for byte (cjson would mangle big integers and empty lists).

Keys: ``{namespace}:idem:{key}`` (hash), ``{namespace}:lock:{rule}`` (string owner, PX lease),
``{namespace}:fields:{rule}`` (hash field -> epoch microseconds), ``{namespace}:value:{key}`` (string, PX ttl).
"""
from __future__ import annotations

from typing import Any

import redis

from .base import (Completion, SingleFromMany, DEFAULT_RETENTION_S, LEASE_MARGIN_S, Claim, ClaimStatus, LeaseLost, Record,
                   check_positive, dumps, loads)

# Shared Lua prelude: server time in ms, and integers written as exact decimal strings (tostring uses %.14g).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function int(x) return string.format('%.0f', x) end
"""

# KEYS[1]=record; ARGV: fingerprint, owner, lease_ms, keep_ms (in-progress retention).
# Returns {status, HGETALL of the record after the call}.
_CLAIM = _NOW + """
local k, fp, owner = KEYS[1], ARGV[1], ARGV[2]
local lease_ms, keep_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = redis.call('HMGET', k, 'fingerprint', 'status', 'owner', 'lease_ms')
if not cur[1] then
  redis.call('HSET', k, 'fingerprint', fp, 'status', 'in_progress', 'deliveries', 1, 'owner', owner,
             'lease_ms', int(now + lease_ms), 'expires_ms', int(now + keep_ms))
  redis.call('PEXPIRE', k, keep_ms)
  return {'acquired', redis.call('HGETALL', k)}
end
if cur[1] ~= fp then return {'mismatch', redis.call('HGETALL', k)} end
if cur[2] == 'completed' then return {'completed', redis.call('HGETALL', k)} end
if cur[3] and cur[3] ~= owner and tonumber(cur[4]) > now then
  return {'in_progress', redis.call('HGETALL', k)}
end
-- expired lease (a crash), released, or our own: take over, keeping deliveries and sent_request
redis.call('HINCRBY', k, 'deliveries', 1)
redis.call('HSET', k, 'owner', owner, 'lease_ms', int(now + lease_ms))
if redis.call('PTTL', k) < keep_ms then
  redis.call('HSET', k, 'expires_ms', int(now + keep_ms))
  redis.call('PEXPIRE', k, keep_ms)
end
return {'acquired', redis.call('HGETALL', k)}
"""

# KEYS[1]=record; ARGV: owner, request JSON. 1 = stored, 0 = not our lease.
_MARK_SENT = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner')
if cur[1] ~= 'in_progress' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'sent_request', ARGV[2])
return 1
"""

# KEYS[1]=record, KEYS[2]=rule's fields hash, KEYS[3]=rule lock; ARGV: owner, outcome JSON, ttl_ms,
# release (1/0), then field name, time pairs. 1 = completed (now or before, by us), 0 = not ours.
# One script so the watermarks are in place before the rule lock is free (single Redis, not Cluster).
_COMPLETE = _NOW + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner')
if cur[1] == 'completed' and cur[2] == ARGV[1] then return 1 end
if cur[1] ~= 'in_progress' or cur[2] ~= ARGV[1] then return 0 end
local ttl_ms = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'completed', 'outcome', ARGV[2], 'expires_ms', int(now + ttl_ms))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
if #ARGV > 4 then
  for i = 5, #ARGV, 2 do
    local old = redis.call('HGET', KEYS[2], ARGV[i])
    if not old or tonumber(ARGV[i + 1]) > tonumber(old) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  end
  if redis.call('PTTL', KEYS[2]) < ttl_ms then redis.call('PEXPIRE', KEYS[2], ttl_ms) end
end
if ARGV[4] == '1' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""

# KEYS[1]=record; ARGV: owner. Ends our lease now; TTL, deliveries, sent_request unchanged.
_RELEASE = _NOW + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner')
if cur[1] == 'in_progress' and cur[2] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'owner')
  redis.call('HSET', KEYS[1], 'lease_ms', int(now))
end
return 0
"""

# KEYS[1]=lock; ARGV: owner, lease_ms. Free or ours -> (re)take with a fresh lease.
_LOCK = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1]=lock; ARGV: owner. Compare-and-delete: never release a lock someone else took after ours expired.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1]=fields hash; ARGV: ttl_ms, then name, time pairs. Per-field max; values stored as sent (exact).
_FIELDS = """
local k = KEYS[1]
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', k, ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) > tonumber(cur) then redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
end
local ttl_ms = tonumber(ARGV[1])
if redis.call('PTTL', k) < ttl_ms then redis.call('PEXPIRE', k, ttl_ms) end
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))  # PX 0 is an error; round tiny TTLs up to 1 ms


class RedisStore(SingleFromMany):
    def __init__(self, url: str, *, namespace: str = "sgrule",
                 retention_s: float = DEFAULT_RETENTION_S, client: redis.Redis | None = None) -> None:
        check_positive("retention_s", retention_s)
        self.namespace = namespace
        self.retention_s = retention_s
        # decode_responses: hash fields come back as str; the pool is thread-safe and connects lazily.
        self._r = client or redis.Redis.from_url(url, decode_responses=True, socket_timeout=5.0,
                                                 socket_connect_timeout=5.0, health_check_interval=30)
        self._claim = self._r.register_script(_CLAIM)
        self._mark_sent = self._r.register_script(_MARK_SENT)
        self._complete = self._r.register_script(_COMPLETE)
        self._release = self._r.register_script(_RELEASE)
        self._lock = self._r.register_script(_LOCK)
        self._unlock = self._r.register_script(_UNLOCK)
        self._fields = self._r.register_script(_FIELDS)

    def _k(self, kind: str, key: str) -> str:
        return f"{self.namespace}:{kind}:{key}"

    @staticmethod
    def _record(key: str, flat: list[str]) -> Record:
        h = dict(zip(flat[::2], flat[1::2]))
        return Record(key=key, fingerprint=h["fingerprint"], status=h["status"],  # type: ignore[arg-type]
                      deliveries=int(h["deliveries"]), owner=h.get("owner"),
                      lease_expires_at=int(h["lease_ms"]) / 1000, sent_request=loads(h.get("sent_request")),
                      outcome=loads(h.get("outcome")), expires_at=int(h["expires_ms"]) / 1000)

    def claim(self, key: str, fingerprint: str, owner: str, lease_s: float) -> Claim:
        check_positive("lease_s", lease_s)
        keep_s = max(lease_s + LEASE_MARGIN_S, self.retention_s)
        status, flat = self._claim(keys=[self._k("idem", key)],
                                   args=[fingerprint, owner, _ms(lease_s), _ms(keep_s)])
        return Claim(ClaimStatus(status), self._record(key, flat))

    def mark_sent(self, key: str, owner: str, request: dict[str, Any]) -> None:
        if not self._mark_sent(keys=[self._k("idem", key)], args=[owner, dumps(request)]):
            raise LeaseLost(key, owner)

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        check_positive("ttl_s", ttl_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip; each complete is still one script
        for item in items:
            rule = item.rule_key or ""
            args: list[Any] = [owner, dumps(item.outcome), _ms(ttl_s),
                               "1" if (item.release_rule and item.rule_key) else "0"]
            for name, t in (item.field_times or {}).items() if item.rule_key else ():
                args += [name, str(int(t))]
            self._complete(keys=[self._k("idem", item.key), self._k("fields", rule), self._k("lock", rule)],
                           args=args, client=pipe)
        return [bool(done) for done in pipe.execute()] if items else []

    def claim_many(self, items: list[tuple[str, str]], owner: str, lease_s: float) -> list[Claim]:
        check_positive("lease_s", lease_s)
        keep_s = max(lease_s + LEASE_MARGIN_S, self.retention_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip; each claim is still its own script
        for key, fingerprint in items:
            self._claim(keys=[self._k("idem", key)], args=[fingerprint, owner, _ms(lease_s), _ms(keep_s)],
                        client=pipe)
        return [Claim(ClaimStatus(status), self._record(key, flat))
                for (key, _), (status, flat) in zip(items, pipe.execute())]

    def release(self, key: str, owner: str) -> None:
        self._release(keys=[self._k("idem", key)], args=[owner])

    def get(self, key: str) -> Record | None:
        flat = self._r.hgetall(self._k("idem", key))
        return self._record(key, [x for kv in flat.items() for x in kv]) if flat else None

    def acquire_rule_lock(self, rule_key: str, owner: str, lease_s: float) -> bool:
        check_positive("lease_s", lease_s)
        return bool(self._lock(keys=[self._k("lock", rule_key)], args=[owner, _ms(lease_s)]))

    def lock_rules(self, rule_keys: list[str], owner: str, lease_s: float) -> dict[str, dict[str, int] | None]:
        check_positive("lease_s", lease_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip: a lock script and a read per rule
        for rule in rule_keys:
            self._lock(keys=[self._k("lock", rule)], args=[owner, _ms(lease_s)], client=pipe)
            pipe.hgetall(self._k("fields", rule))
        replies = pipe.execute()
        # A rule's watermarks only change under its lock, so the read beside our lock is current.
        return {rule: {k: int(v) for k, v in replies[2 * i + 1].items()} if replies[2 * i] else None
                for i, rule in enumerate(rule_keys)}

    def release_rule_lock(self, rule_key: str, owner: str) -> None:
        self._unlock(keys=[self._k("lock", rule_key)], args=[owner])

    def field_times(self, rule_key: str) -> dict[str, int]:
        return {k: int(v) for k, v in self._r.hgetall(self._k("fields", rule_key)).items()}

    def record_field_times(self, rule_key: str, times: dict[str, int], ttl_s: float) -> None:
        check_positive("ttl_s", ttl_s)
        if not times:
            return
        args: list[Any] = [_ms(ttl_s)]
        for name, t in times.items():
            args += [name, str(int(t))]
        self._fields(keys=[self._k("fields", rule_key)], args=args)

    # --- small values (their own key space) ----------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        return self._r.get(self._k("value", key))  # type: ignore[no-any-return]

    def put_value(self, key: str, value: str, ttl_s: float) -> None:
        check_positive("ttl_s", ttl_s)
        self._r.set(self._k("value", key), value, px=_ms(ttl_s))  # expiry by the server's clock

    def close(self) -> None:
        self._r.close()
