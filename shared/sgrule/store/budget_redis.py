"""The ECS call budget on Redis: each ask and each pause is one Lua script, timed by the server's ``TIME``.

Key ``{namespace}:budget:{region}/{api}``: a hash with ``tat`` (the theoretical arrival time of the next call)
and ``pause`` (no slot before it), both in epoch microseconds of the Redis server's clock. It expires a
minute after both are past, so idle APIs leave nothing behind.
"""
from __future__ import annotations

import redis
from redis.driver_info import DriverInfo

from .budget import Decision, Rate, budget_key, check_ask

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function keep(tat, pause)
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, pause, now) - now) / 1000) + 60000)
end
"""

# KEYS[1]=budget; ARGV: interval_us, tolerance_us, max_wait_us. Returns {granted 1/0, wait_us, slot_us}.
_ACQUIRE = _NOW + """
local h = redis.call('HMGET', KEYS[1], 'tat', 'pause')
local tat, pause = tonumber(h[1]) or 0, tonumber(h[2]) or 0
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slot = math.max(tat - tolerance, now, pause)
if slot - now > max_wait then return {0, slot - now, slot} end
tat = math.max(tat, slot) + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
keep(tat, pause)
return {1, slot - now, slot}
"""

# KEYS[1]=budget; ARGV: pause_us. Returns the pause left from now, in us.
_PAUSE = _NOW + """
local h = redis.call('HMGET', KEYS[1], 'tat', 'pause')
local tat, pause = tonumber(h[1]) or 0, tonumber(h[2]) or 0
pause = math.max(pause, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'pause', string.format('%.0f', pause))
keep(tat, pause)
return pause - now
"""


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


class RedisBudget:
    def __init__(self, url: str, *, namespace: str = "sgrule", client: redis.Redis | None = None) -> None:
        self.namespace = namespace
        self._r = client or redis.Redis.from_url(url, decode_responses=True, socket_timeout=5.0,
                                                 socket_connect_timeout=5.0, health_check_interval=30,
                                                 driver_info=DriverInfo(lib_version=redis.__version__))
        self._acquire = self._r.register_script(_ACQUIRE)
        self._pause = self._r.register_script(_PAUSE)

    def _key(self, region: str, api: str) -> str:
        return f"{self.namespace}:budget:{budget_key(region, api)}"

    def acquire(self, region: str, api: str, rate: Rate, max_wait_s: float) -> Decision:
        max_wait_s = check_ask(max_wait_s)
        granted, wait_us, slot_us = self._acquire(keys=[self._key(region, api)], args=[
            _us(rate.interval_s), _us(rate.tolerance_s), _us(max_wait_s)])
        return Decision(bool(granted), int(wait_us) / 1e6, int(slot_us) / 1e6)

    def pause(self, region: str, api: str, seconds: float) -> float:
        seconds = check_ask(seconds, "seconds")
        return int(self._pause(keys=[self._key(region, api)], args=[_us(seconds)])) / 1e6

    def close(self) -> None:
        self._r.close()
