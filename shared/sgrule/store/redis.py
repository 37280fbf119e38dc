"""Redis backend: for many Function Compute instances sharing one store.

Each read-modify-write is one Lua script, so it is atomic on the server with no WATCH/retry loop. Times
(leases, expiry) come from the server's ``TIME``: instances' clocks may disagree, the server's is the one
clock every instance sees. A record is a hash whose JSON fields (``sent_request``, ``outcome``) Lua never
decodes, so payloads round-trip byte for byte (cjson would mangle big integers and empty lists).

Keys: ``{namespace}:idem:{key}`` (hash: a change's record), ``{namespace}:lock:{rule}`` (string owner, PX
lease), ``{namespace}:rule:{rule}`` (hash: ``m:<Field>`` watermarks in epoch microseconds, ``v`` the version,
``j:<token>`` open journal entries and ``s:<token>`` their sequence numbers), ``{namespace}:seq`` (the sequence),
``{namespace}:value:{key}`` (string, PX ttl).
"""
from __future__ import annotations

from typing import Any, Literal, cast

import redis
from redis.driver_info import DriverInfo
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import (DEFAULT_RETENTION_S, LEASE_MARGIN_S, Claim, ClaimStatus, Completion, LeaseLost,
                   Record, RuleState, SingleFromMany, check_positive, dumps, loads)
from .records import (JournalEntry, SentRequest, Settlement, sent_from_json, sent_to_json, settlement_from_json,
                      settlement_to_json)

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

# KEYS[1]=record, KEYS[2]=rule state hash, KEYS[3]=rule lock, KEYS[4]=sequence; ARGV: owner, outcome JSON,
# ttl_ms, release (1/0), entry token ('' for none), then field name, time pairs. 1 = completed (now or
# before, by us), 0 = not ours. One script so the watermarks and the closed entry are in place before the
# rule lock is free (single Redis, not Cluster).
_COMPLETE = _NOW + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner')
if cur[1] == 'completed' and cur[2] == ARGV[1] then return 1 end
if cur[1] ~= 'in_progress' or cur[2] ~= ARGV[1] then return 0 end
local ttl_ms = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'completed', 'outcome', ARGV[2], 'expires_ms', int(now + ttl_ms))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
local touched = false
for i = 6, #ARGV, 2 do
  local f = 'm:' .. ARGV[i]
  local old = redis.call('HGET', KEYS[2], f)
  if not old or tonumber(ARGV[i + 1]) > tonumber(old) then redis.call('HSET', KEYS[2], f, ARGV[i + 1]) end
  touched = true
end
if ARGV[5] ~= '' then
  redis.call('HDEL', KEYS[2], 'j:' .. ARGV[5], 's:' .. ARGV[5])
  redis.call('HSET', KEYS[2], 'v', redis.call('INCR', KEYS[4]))
  touched = true
end
if touched and redis.call('PTTL', KEYS[2]) < ttl_ms then redis.call('PEXPIRE', KEYS[2], ttl_ms) end
if ARGV[4] == '1' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""

# KEYS[1]=record; ARGV: owner, uncount ('1': this delivery does not count)[, sent JSON]. Ends our lease now;
# TTL unchanged.
_RELEASE = _NOW + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner')
if cur[1] == 'in_progress' and cur[2] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'owner')
  redis.call('HSET', KEYS[1], 'lease_ms', int(now))
  if ARGV[3] then redis.call('HSET', KEYS[1], 'sent_request', ARGV[3]) end
  if ARGV[2] == '1' and tonumber(redis.call('HGET', KEYS[1], 'deliveries') or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], 'deliveries', -1)
  end
end
return 0
"""

# KEYS[1]=lock, KEYS[2]=rule state hash; ARGV: owner, lease_ms. Free or ours -> (re)take with a fresh lease
# and return the rule's state; another owner's -> false.
_LOCK = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('HGETALL', KEYS[2])
"""

# KEYS[1]=lock; ARGV: owner. Compare-and-delete: never release a lock someone else took after ours expired.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: n claim records, then the rule locks; ARGV: owner, lease_ms, n. Returns the 1-based indexes lost.
_RENEW = _NOW + """
local owner, lease_ms, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local lost = {}
for i = 1, #KEYS do
  if i <= n then
    local cur = redis.call('HMGET', KEYS[i], 'status', 'owner', 'lease_ms')
    if cur[1] == 'in_progress' and cur[2] == owner and tonumber(cur[3]) > now then
      redis.call('HSET', KEYS[i], 'lease_ms', int(now + lease_ms))
    else
      lost[#lost + 1] = i
    end
  elseif redis.call('GET', KEYS[i]) == owner then
    redis.call('PEXPIRE', KEYS[i], lease_ms)
  else
    lost[#lost + 1] = i
  end
end
return lost
"""

# KEYS[1]=record, KEYS[2]=rule lock, KEYS[3]=rule state hash, KEYS[4]=sequence; ARGV: owner, token, entry
# JSON, sent JSON, keep_ms. The claim and the lock must be ours (live); returns the new version, or 0 / -1
# when the claim / the lock is not ours.
_OPEN = _NOW + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'owner', 'lease_ms')
if cur[1] ~= 'in_progress' or cur[2] ~= ARGV[1] or tonumber(cur[3]) <= now then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[3], 'j:' .. ARGV[2], ARGV[3], 's:' .. ARGV[2], seq, 'v', seq)
redis.call('HSET', KEYS[1], 'sent_request', ARGV[4])
local keep_ms = tonumber(ARGV[5])
if redis.call('PTTL', KEYS[3]) < keep_ms then redis.call('PEXPIRE', KEYS[3], keep_ms) end
return seq
"""

# KEYS[1]=rule lock, KEYS[2]=rule state hash, KEYS[3]=sequence, KEYS[4]=the entry's change record; ARGV: owner,
# token, settled JSON, ttl_ms, then field name, time pairs. Returns the new version, or -1 when the lock is not ours.
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 5, #ARGV, 2 do
  local f = 'm:' .. ARGV[i]
  local old = redis.call('HGET', KEYS[2], f)
  if not old or tonumber(ARGV[i + 1]) > tonumber(old) then redis.call('HSET', KEYS[2], f, ARGV[i + 1]) end
end
redis.call('HDEL', KEYS[2], 'j:' .. ARGV[2], 's:' .. ARGV[2])
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], 'v', seq)
local ttl_ms = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl_ms then redis.call('PEXPIRE', KEYS[2], ttl_ms) end
if redis.call('HGET', KEYS[4], 'status') == 'in_progress' then redis.call('HSET', KEYS[4], 'settled', ARGV[3]) end
return seq
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))  # PX 0 is an error; round tiny TTLs up to 1 ms


class RedisStore(SingleFromMany):
    def __init__(self, url: str, *, namespace: str = "sgrule",
                 retention_s: float = DEFAULT_RETENTION_S, client: redis.Redis | None = None,
                 timeout_s: float | None = None) -> None:
        check_positive("retention_s", retention_s)
        self.namespace = namespace
        self.retention_s = retention_s
        # decode_responses: hash fields come back as str; the pool is thread-safe and connects lazily.
        # driver_info names the version redis-py would look up in the installed packages' metadata on every
        # new connection (a scan of site-packages, ~5 ms each on a cold start); the server is told the same.
        # A caller's timeout_s bounds each call whole: no retry behind it (the caller retries, or its sender).
        bounded = {} if timeout_s is None else {"retry": Retry(NoBackoff(), 0)}
        self._r = client or redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s or 5.0,
                                                 socket_connect_timeout=timeout_s or 5.0, health_check_interval=30,
                                                 driver_info=DriverInfo(lib_version=redis.__version__), **bounded)
        self._claim = self._r.register_script(_CLAIM)
        self._complete = self._r.register_script(_COMPLETE)
        self._release = self._r.register_script(_RELEASE)
        self._lock = self._r.register_script(_LOCK)
        self._unlock = self._r.register_script(_UNLOCK)
        self._renew = self._r.register_script(_RENEW)
        self._open = self._r.register_script(_OPEN)
        self._settle = self._r.register_script(_SETTLE)

    def _k(self, kind: str, key: str = "") -> str:
        return f"{self.namespace}:{kind}:{key}" if key else f"{self.namespace}:{kind}"

    @staticmethod
    def _record(key: str, flat: list[str]) -> Record:
        h = dict(zip(flat[::2], flat[1::2]))
        status = cast('Literal["in_progress", "completed"]', h["status"])  # the only two the scripts write
        return Record(key=key, fingerprint=h["fingerprint"], status=status,
                      deliveries=int(h["deliveries"]), owner=h.get("owner"),
                      lease_expires_at=int(h["lease_ms"]) / 1000,
                      sent_request=sent_from_json(loads(h.get("sent_request"))), outcome=loads(h.get("outcome")),
                      expires_at=int(h["expires_ms"]) / 1000, settled=settlement_from_json(loads(h.get("settled"))))

    @staticmethod
    def _rule(h: dict[str, str]) -> RuleState:
        marks = {k[2:]: int(v) for k, v in h.items() if k.startswith("m:")}
        entries = [JournalEntry.from_json(loads(v), int(h.get("s:" + k[2:], 0)))
                   for k, v in h.items() if k.startswith("j:")]
        return RuleState(marks, int(h.get("v", 0)), sorted(entries, key=lambda e: e.seq))

    # --- claims -----------------------------------------------------------------------------------
    def claim(self, key: str, fingerprint: str, owner: str, lease_s: float) -> Claim:
        return self.claim_many([(key, fingerprint)], owner, lease_s)[0]

    def claim_many(self, items: list[tuple[str, str]], owner: str, lease_s: float) -> list[Claim]:
        check_positive("lease_s", lease_s)
        keep_s = max(lease_s + LEASE_MARGIN_S, self.retention_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip; each claim is still its own script
        for key, fingerprint in items:
            self._claim(keys=[self._k("idem", key)], args=[fingerprint, owner, _ms(lease_s), _ms(keep_s)],
                        client=pipe)
        return [Claim(ClaimStatus(status), self._record(key, flat))
                for (key, _), (status, flat) in zip(items, pipe.execute())]

    def complete_many(self, items: list[Completion], owner: str, ttl_s: float) -> list[bool]:
        check_positive("ttl_s", ttl_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip; each complete is still one script
        for item in items:
            rule = item.rule_key or ""
            args: list[Any] = [owner, dumps(item.outcome), _ms(ttl_s),
                               "1" if (item.release_rule and item.rule_key) else "0",
                               (item.entry or "") if item.rule_key else ""]
            for name, t in (item.field_times or {}).items() if item.rule_key else ():
                args += [name, str(int(t))]
            self._complete(keys=[self._k("idem", item.key), self._k("rule", rule), self._k("lock", rule),
                                 self._k("seq")], args=args, client=pipe)
        return [bool(done) for done in pipe.execute()] if items else []

    def release(self, key: str, owner: str, sent: SentRequest | None = None, *, uncount: bool = False) -> None:
        self._release(keys=[self._k("idem", key)],
                      args=[owner, "1" if uncount else "0"] + ([dumps(sent_to_json(sent))] if sent is not None else []))

    def get(self, key: str) -> Record | None:
        flat = cast("dict[str, str]", self._r.hgetall(self._k("idem", key)))
        return self._record(key, [x for kv in flat.items() for x in kv]) if flat else None

    # --- leases -----------------------------------------------------------------------------------
    def renew(self, keys: list[str], rule_keys: list[str], owner: str, lease_s: float) -> set[str]:
        check_positive("lease_s", lease_s)
        if not keys and not rule_keys:
            return set()
        names = list(keys) + list(rule_keys)
        lost = self._renew(keys=[self._k("idem", k) for k in keys] + [self._k("lock", r) for r in rule_keys],
                           args=[owner, _ms(lease_s), len(keys)])
        return {names[int(i) - 1] for i in lost}

    # --- rules ------------------------------------------------------------------------------------
    def sequence(self) -> int:
        return int(self._r.get(self._k("seq")) or 0)

    def lock_rules(self, rule_keys: list[str], owner: str, lease_s: float) -> dict[str, RuleState | None]:
        check_positive("lease_s", lease_s)
        pipe = self._r.pipeline(transaction=False)  # one round trip: a lock-and-read script per rule
        for rule in rule_keys:
            self._lock(keys=[self._k("lock", rule), self._k("rule", rule)], args=[owner, _ms(lease_s)], client=pipe)
        # A rule's state only changes under its lock, so the read beside our lock is current.
        return {rule: None if flat is None else self._rule(dict(zip(flat[::2], flat[1::2])))
                for rule, flat in zip(rule_keys, pipe.execute())}

    def release_rule_lock(self, rule_key: str, owner: str) -> None:
        self._unlock(keys=[self._k("lock", rule_key)], args=[owner])

    def open_entries(self, items: list[tuple[str, str, str, JournalEntry]]) -> list[int | LeaseLost]:
        if not items:
            return []
        pipe = self._r.pipeline(transaction=False)  # one round trip; each entry is still its own script
        for key, owner, rule_key, entry in items:
            self._open(keys=[self._k("idem", key), self._k("lock", rule_key), self._k("rule", rule_key),
                             self._k("seq")],
                       args=[owner, entry.token, dumps(entry.to_json()),
                             dumps(sent_to_json(entry.sent)), _ms(self.retention_s)],
                       client=pipe)
        return [int(v) if int(v) > 0 else LeaseLost(key if int(v) == 0 else rule_key, owner)
                for (key, owner, rule_key, _), v in zip(items, pipe.execute())]

    def settle(self, rule_key: str, owner: str, entry: JournalEntry, settled: Settlement,
               field_times: dict[str, int] | None, ttl_s: float) -> int:
        check_positive("ttl_s", ttl_s)
        args: list[Any] = [owner, entry.token, dumps(settlement_to_json(settled)), _ms(ttl_s)]
        for name, t in (field_times or {}).items():
            args += [name, str(int(t))]
        version = self._settle(keys=[self._k("lock", rule_key), self._k("rule", rule_key), self._k("seq"),
                                     self._k("idem", entry.change_key)], args=args)
        if int(version) < 0:
            raise LeaseLost(rule_key, owner)
        return int(version)

    def rule_state(self, rule_key: str) -> RuleState:
        return self._rule(cast("dict[str, str]", self._r.hgetall(self._k("rule", rule_key))))

    # --- small values (their own key space) ----------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        return cast("str | None", self._r.get(self._k("value", key)))  # decode_responses: text

    def put_value(self, key: str, value: str, ttl_s: float) -> None:
        check_positive("ttl_s", ttl_s)
        self._r.set(self._k("value", key), value, px=_ms(ttl_s))  # expiry by the server's clock

    def close(self) -> None:
        self._r.close()
