"""The hot path's two Redis round trips as Lua scripts: one EVALSHA each instead of a pipeline.

A script is atomic, so each step's commands see one consistent Redis; and one command costs
redis-py a fraction of the Python time a pipeline of five spends packing and parsing. Each request
thread keeps a connection of its own for them (`Pinned`): taking one from the pool and giving it back
cost more than the command (a lock, a poll of the socket, redis-py's pool metrics, a retry wrapper).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any

import hiredis
import redis as redis_lib
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

# KEYS: claim, lock, conversation, profile, version tokens...
# ARGV: pending marker, claim TTL (s), lock token, lock TTL (ms)
# Returns {claimed, locked, conversation, profile, token...} (absent values as nil).
BEGIN = """
local claimed = redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
local locked = redis.call('set', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) and 1 or 0
if locked == 1 and claimed == 0 then
  redis.call('del', KEYS[2])
  locked = 0
end
local out = {claimed, locked, redis.call('get', KEYS[3]), redis.call('get', KEYS[4])}
for i = 5, #KEYS do
  out[i] = redis.call('get', KEYS[i])
end
return out
"""

# KEYS: claim, conversation, profile, lock
# ARGV: claim op ('set' | 'del' | ''), reply body, claim TTL (s),
#       conversation op ('set' | 'del' | ''), conversation JSON, conversation TTL (ms),
#       profile op ('cas' | ''), profile read ('' = absent), profile to set, profile TTL (s),
#       lock token
FINISH = """
if ARGV[1] == 'set' then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
elseif ARGV[1] == 'del' then
  redis.call('del', KEYS[1])
end
if ARGV[4] == 'set' then
  redis.call('set', KEYS[2], ARGV[5], 'PX', ARGV[6])
elseif ARGV[4] == 'del' then
  redis.call('del', KEYS[2])
end
if ARGV[7] == 'cas' then
  local v = redis.call('get', KEYS[3])
  if (v == false and ARGV[8] == '') or v == ARGV[8] then
    redis.call('set', KEYS[3], ARGV[9], 'EX', ARGV[10])
  end
end
if redis.call('get', KEYS[4]) == ARGV[11] then
  redis.call('del', KEYS[4])
end
return 1
"""


_forks = 0  # bumped in a forked child: a connection made before the fork is not this process's to use


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


def _kernel_timeouts(sock: socket.socket, seconds: float | None) -> None:
    """A blocking socket whose timeouts the kernel keeps: Python then makes no poll() before each send and
    receive (two system calls and two hand-overs of the GIL fewer per command)."""
    seconds = seconds or 5.0
    timeval = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.settimeout(None)


class Pinned:
    """Commands on a connection of the calling thread's own, made from the client's pool once and kept.

    A connection idle for over `idle_check_s` is first checked for a close Redis sent meanwhile (a
    server timeout, a restart): then it is replaced before the command goes out. Under load no check
    runs. A command that could not be sent is sent once more on a new connection; one whose reply
    failed is not (it may have run: the caller answers 503 and WeChat retries), and its connection is
    dropped so that no later command reads a stale reply. The socket blocks, with the client's timeout
    kept by the kernel (`_kernel_timeouts`): a Redis silent for that long is a lost reply as above. The
    in-process stand-in (`memory://`) goes through its client.
    """

    idle_check_s = 1.0

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self.enabled = not type(redis).__module__.startswith("fakeredis")
        self._local = threading.local()

    def execute(self, *args: Any) -> Any:
        """Send one command and read its reply (decoded as the client's pool decodes)."""
        if not self.enabled:
            return self.redis.execute_command(*args)  # type: ignore[no-untyped-call]
        conn = self._connection()
        packed = [hiredis.pack_command(args)]  # what redis-py's packer ends in, without its per-argument pass
        try:
            conn.send_packed_command(packed)
        except (RedisConnectionError, OSError):
            self._local.conn = None
            conn = self._connection()
            conn.send_packed_command(packed)
        try:
            reply = conn.read_response()
        except ResponseError:
            raise  # an error reply: the connection is in step
        except BaseException:
            self._local.conn = None
            conn.disconnect()
            raise
        self._local.used = time.monotonic()
        return reply

    def _connection(self) -> Any:
        local = self._local
        conn: Any = getattr(local, "conn", None)
        if conn is None or local.forks != _forks:  # none yet, or inherited across a fork
            conn = local.conn = self.redis.connection_pool.make_connection()
            local.forks, local.used, local.sock = _forks, time.monotonic(), None
        elif time.monotonic() - local.used > self.idle_check_s:
            try:
                stale = conn.can_read()  # anything to read before we asked: a close (or junk)
            except (RedisConnectionError, OSError):
                stale = True
            if stale:
                conn.disconnect()
            local.sock = None  # can_read() put the socket's own timeout back
        if conn._sock is None:
            conn.connect()
        if conn._sock is not local.sock:
            _kernel_timeouts(conn._sock, conn.socket_timeout)
            local.sock = conn._sock
        return conn


class Script:
    """One Lua script run by EVALSHA, re-sent with EVAL when Redis forgot it (a restart or flush)."""

    def __init__(self, redis: redis_lib.Redis, source: str, pinned: Pinned | None = None) -> None:
        self.redis, self.source = redis, source
        self.pinned = pinned or Pinned(redis)
        self.sha: str | None = None

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """Run the script; the reply as redis-py returns it."""
        sha = self.sha
        if sha is None:
            sha = self.sha = str(self.redis.script_load(self.source))
        try:
            return self.pinned.execute("EVALSHA", sha, len(keys), *keys, *args)
        except redis_lib.exceptions.NoScriptError:
            self.sha = None
            return self.redis.eval(self.source, len(keys), *keys, *args)
