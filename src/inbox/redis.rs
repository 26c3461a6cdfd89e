//! The inbox engine for fleets on Redis: a ready stream read through a consumer group (whose
//! pending entries are the leases), a sorted set for delayed retries, a dead-letter stream,
//! one hash per record.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{RedisError, Script, ScriptInvocation};
use time::OffsetDateTime;

use super::batch::{Answer, Batcher};
use super::record::{datetime, millis};
use super::{
    Accepted, Counts, InboxEngine, InboxError, Leased, ListQuery, NewRecord, Record, RecordMeta,
    Status, decode_headers, encode_headers,
};
use crate::clock::{Clock, SystemClock};
use crate::dedup::LeaseToken;
use crate::error::ConfigError;
use crate::redis_conn;
use crate::verify::unix_millis;

/// Default key prefix of [`RedisInbox`].
const DEFAULT_PREFIX: &str = "webhook-inbox:";

/// Default consumer name in the ready stream's consumer group.
const DEFAULT_CONSUMER: &str = "webhook-receiver";

/// The longest prefix or consumer name accepted.
const MAX_NAME_LEN: usize = 256;

/// How many records one `replay_dead_since` or `purge` script handles before the engine calls
/// it again (so no script blocks the server for long).
const BATCH: u32 = 500;

/// The record fields a read returns, in this order (`headers` and `body` last).
const FIELDS: [&str; 16] = [
    "key",
    "endpoint",
    "provider",
    "event_id",
    "signed_at",
    "key_label",
    "ordering_key",
    "received_at",
    "status",
    "attempts",
    "deadline",
    "updated_at",
    "last_error",
    "retain_ms",
    "headers",
    "body",
];

/// The hex digits of a fresh record's nonce.
const NONCE_LEN: usize = 16;

/// How many of [`FIELDS`] are metadata.
const META_FIELDS: usize = 14;

/// Shared by every script: `ARGV[1]` is the key prefix. Helpers:
/// * `ready_entry`: adds a key to the ready stream (making the stream and its group if gone);
/// * `is_fresh`: whether `n:<key>` holds a packed record (`F`; `C` or `P` when a bounded
///   accept stored it) rather than the marker `m`;
/// * `unpack_fresh`: the items of a packed record, or nil if they do not parse;
/// * `enqueue`: a pending record goes to the ready stream if due, else to the delayed set;
/// * `settle`: a running record stops running: its stream entry is acknowledged and deleted,
///   its lease dropped; returns its ordering key;
/// * `wake`: the oldest unfinished record of an ordering key is queued if it was parked;
/// * `owned`: whether the record is running under `token`;
/// * `materialize`: a fresh record (packed in `n:<key>` by `accept`) becomes its hash, queued
///   under the stream entry `id` that announced it — only an entry with the record's own
///   nonce: a leftover announcement of an earlier accept of the key (a duplicate's) must not
///   place a later record of the key before the records accepted in between;
/// * `materialize_ahead`: turns the fresh records announced after the last entry handed out
///   (or turned) into hashes, at most `batch` stream entries; returns how many it turned, how
///   many entries it examined, and whether more follow.
const PRELUDE: &str = r"
local P = ARGV[1]
local READY, GROUP = P .. 'ready', 'workers'
local U = P .. 'unfinished'
local function rk(k) return P .. 'r:' .. k end
local function nk(k) return P .. 'n:' .. k end
local function n(x) return string.format('%.0f', x) end
local function ready_entry(k)
  if redis.call('EXISTS', READY) == 0 then
    redis.call('XGROUP', 'CREATE', READY, GROUP, '0', 'MKSTREAM')
  end
  return redis.call('XADD', READY, '*', 'k', k)
end
local function enqueue(r, k, now)
  local due = tonumber(redis.call('HGET', r, 'deadline'))
  if due <= now then
    redis.call('HSET', r, 'q', 's', 'entry', ready_entry(k))
  else
    redis.call('ZADD', P .. 'delayed', due, k)
    redis.call('HSET', r, 'q', 'z')
  end
end
local function settle(r, k)
  local id = redis.call('HGET', r, 'entry')
  if id then
    redis.pcall('XACK', READY, GROUP, id)
    redis.call('XDEL', READY, id)
  end
  redis.call('HDEL', r, 'entry', 'token', 'q', 'lease_ms', 'consumer')
  redis.call('ZREM', P .. 'lengths', k)
  redis.call('ZREM', P .. 's:running', k)
  local ok = redis.call('HGET', r, 'ordering_key')
  if ok then redis.call('ZREM', P .. 'h:' .. ok, k) end
  return ok
end
local function wake(ok, now)
  local head = redis.call('ZRANGE', P .. 'o:' .. ok, 0, 0)[1]
  if head then
    local r = rk(head)
    local st, q = unpack(redis.call('HMGET', r, 'status', 'q'))
    if st == 'pending' and not q then enqueue(r, head, now) end
  end
end
-- A running record's stream entry stays in the group's pending-entry list with the start of
-- its lease (on the engine's clock) as its last delivery time, so its idle time is how long
-- ago the lease began or was renewed; `XAUTOCLAIM` finds the leases that may be over. `count`:
-- this hands the entry out again (the delivery counter goes up).
local function lease_started(id, consumer, start, count)
  if count then
    redis.pcall('XCLAIM', READY, GROUP, consumer, 0, id, 'TIME', n(start))
  else
    redis.pcall('XCLAIM', READY, GROUP, consumer, 0, id, 'TIME', n(start), 'JUSTID')
  end
end
local function owned(r, token)
  local st, t = unpack(redis.call('HMGET', r, 'status', 'token'))
  return st == 'running' and t == token
end
local OPTIONAL = {[6] = 'event_id', [7] = 'signed_at', [8] = 'key_label', [9] = 'ordering_key'}
-- Items that must be numbers (the received time and retention; the signed time if present),
-- and their longest length: times and retentions are used in arithmetic (within 2^53), the
-- signed time is only kept (any i64: up to 20 characters).
local NUMERIC = {[1] = '^%d+$', [2] = '^%d+$', [7] = '^%-?%d+$'}
local DIGITS = {[1] = 18, [2] = 18, [7] = 20}
local function unpack_fresh(s)
  local items, pos = {}, 18
  for i = 1, 10 do
    if string.sub(s, pos, pos) == 'x' then
      items[i] = false
      pos = pos + 1
    else
      local colon = string.find(s, ':', pos, true)
      local len = colon and tonumber(string.sub(s, pos, colon - 1))
      if not len then return nil end
      items[i] = string.sub(s, colon + 1, colon + len)
      if #items[i] ~= len then return nil end
      pos = colon + len + 1
    end
    local number = NUMERIC[i]
    if number and (items[i] or i ~= 7)
      and not (items[i] and #items[i] <= DIGITS[i] and string.find(items[i], number)) then
      return nil
    end
  end
  if pos ~= #s + 1 then return nil end
  return items
end
local BOUNDED = {C = true, P = true}
local function is_fresh(nkey)
  local first = redis.call('GETRANGE', nkey, 0, 0)
  return first == 'F' or BOUNDED[first] == true
end
local function materialize(k, id, nonce, now, bound)
  local nkey = nk(k)
  local head = redis.call('GETRANGE', nkey, 0, 16)
  local kind = string.sub(head, 1, 1)
  if (kind ~= 'F' and not BOUNDED[kind]) or string.sub(head, 2) ~= nonce then return false end
  local it = unpack_fresh(redis.call('GET', nkey))
  -- A packed record that does not parse was written by hand: left as it is for `get` to
  -- report (not counted by the bound: only records turned into hashes are).
  if not it then return false end
  redis.call('SET', nkey, 'm')
  local r = rk(k)
  local st, dl = unpack(redis.call('HMGET', r, 'status', 'deadline'))
  if st then
    -- A hash without its marker (only written by an earlier layout, or by hand): a retained
    -- record makes this one its duplicate (it runs once); one past its retention is replaced.
    if not (st == 'done' and tonumber(dl) <= now) then return false end
    redis.call('DEL', r)
    redis.call('ZREM', P .. 's:done', k)
    redis.call('ZREM', P .. 'expiry', k)
  end
  local seq = redis.call('INCR', P .. 'seq')
  local at = it[1]
  local fields = {'key', k, 'status', 'pending', 'attempts', '0', 'deadline', at,
    'received_at', at, 'updated_at', at, 'retain_ms', it[2], 'endpoint', it[3],
    'provider', it[4], 'headers', it[5], 'body', it[10], 'seq', seq, 'q', 's', 'entry', id}
  for i = 6, 9 do
    if it[i] then
      fields[#fields + 1] = OPTIONAL[i]
      fields[#fields + 1] = it[i]
    end
  end
  -- A bounded record keeps its nonce until a worker takes it or a duplicate is answered for
  -- it: until then, its own accept may take it back (over the bound).
  if kind == 'C' then
    fields[#fields + 1] = 'nonce'
    fields[#fields + 1] = nonce
    if bound then
      fields[#fields + 1] = 'bound'
      fields[#fields + 1] = bound
    end
  end
  redis.call('HSET', r, unpack(fields))
  redis.call('ZADD', P .. 's:pending', at, k)
  redis.call('SADD', U, k)
  if it[9] then redis.call('ZADD', P .. 'o:' .. it[9], seq, k) end
  return true
end
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function later(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  return am > bm or (am == bm and as > bs)
end
local function materialize_ahead(batch, now)
  if redis.call('EXISTS', READY) == 0 then return 0, 0, false end
  local from = redis.call('GET', P .. 'mat') or '0-0'
  local groups = redis.pcall('XINFO', 'GROUPS', READY)
  if type(groups) == 'table' and not groups.err then
    for _, g in ipairs(groups) do
      local name, last
      for j = 1, #g - 1, 2 do
        if g[j] == 'name' then name = g[j + 1] elseif g[j] == 'last-delivered-id' then last = g[j + 1] end
      end
      if name == GROUP and last and later(last, from) then from = last end
    end
  end
  local entries = redis.call('XRANGE', READY, from, '+', 'COUNT', batch + 1)
  local count, examined, more = 0, 0, false
  for _, e in ipairs(entries) do
    if e[1] ~= from then
      if examined == batch then
        more = true
        break
      end
      examined = examined + 1
      local f = e[2]
      if f[3] == 'f' and materialize(f[2], e[1], f[4], now, f[6]) then count = count + 1 end
      from = e[1]
    end
  end
  redis.call('SET', P .. 'mat', from)
  return count, examined, more
end
";

/// The accepts their pipeline could not settle: those whose `SET NX` found the key taken,
/// and bounded ones that found the inbox over its bound. `ARGV`: prefix, now, the number of
/// records, then for each record: key, max unfinished (-1: none), the packed record (`C…`
/// when bounded), the id of the stream entry the pipeline added for it, and `1` if the
/// pipeline stored it over the bound (else `0`: the key was taken).
///
/// Returns one answer per record, in order — 1: stored; 0: duplicate; -1: full. Records are
/// taken in order, so a key twice in one call is stored once.
const ACCEPT_LUA: &str = r"
local now, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
if redis.call('EXISTS', READY) == 0 then
  redis.call('XGROUP', 'CREATE', READY, GROUP, '0', 'MKSTREAM')
end
-- For a bounded record, the count is exact: every record announced so far is turned into its
-- hash first, so `unfinished` holds them all, and so is every record this call stores (in
-- order, so ordering keys keep received order). If too many wait, the count stays unknown:
-- bounded records are refused (503), never stored past the bound, and the records this call
-- stores stay fresh for the workers to turn in stream order.
local ahead, unknown = false, false
for i = 0, count - 1 do
  if tonumber(ARGV[5 + 5 * i]) >= 0 then
    local _, _, more = materialize_ahead(1024, now)
    ahead, unknown = not more, more
    break
  end
end
-- Whether a record with the key is retained (so this one is a duplicate). A done record past
-- its retention that `purge` has not removed yet is removed here if `replace`. A bounded
-- fresh record is pinned (`P`): its own accept, over the bound, must no longer take it back.
local function retained(k, nkey, replace)
  local head = redis.call('GETRANGE', nkey, 0, 16)
  local kind = string.sub(head, 1, 1)
  if kind == 'C' then redis.call('SETRANGE', nkey, 0, 'P') end
  if kind == 'F' or BOUNDED[kind] then
    -- Announced again: the accept that stored it may have lost its connection before its
    -- `XADD` ran (and answered an error, so this may be the sender's retry). A worker turns
    -- the record into its hash at the first entry with its nonce and drops the others. When
    -- every announced record was just turned (`ahead`), this one was not announced: it is
    -- turned now, so the bound counts it.
    local nonce = string.sub(head, 2)
    local id = redis.call('XADD', READY, '*', 'k', k, 'f', nonce)
    if ahead then materialize(k, id, nonce, now, nil) end
    return true
  end
  local r = rk(k)
  local st, dl = unpack(redis.call('HMGET', r, 'status', 'deadline'))
  if not st then return false end
  if st == 'done' and tonumber(dl) <= now then
    if not replace then return false end
    redis.call('DEL', r)
    redis.call('ZREM', P .. 's:done', k)
    redis.call('ZREM', P .. 'expiry', k)
    return false
  end
  redis.call('HDEL', r, 'nonce')
  return true
end
-- Settles a record this accept's pipeline stored over the bound (`nonce` is its own):
-- answers 1 (it stays) if the count fits by now, or if a duplicate pinned it or a worker took
-- it; else takes it back, wherever it is — fresh, or turned into its hash but never taken —
-- and answers -1. A record that is no longer this accept's own (this call runs again after
-- an earlier run took it back: a reply lost, a group retried) is answered -1 too, unless the
-- key's record now can never be taken back: 200 only for a record that stays.
local function settle_over(k, nkey, nonce, announced, max)
  local r = rk(k)
  local head = redis.call('GETRANGE', nkey, 0, 16)
  if head == 'P' .. nonce then return 1 end
  local hashed = false
  if head ~= 'C' .. nonce then
    if head ~= 'm' then return -1 end
    local st, nn = unpack(redis.call('HMGET', r, 'status', 'nonce'))
    if not st then return -1 end
    if not nn then return 1 end
    if nn ~= nonce or st ~= 'pending' then return -1 end
    hashed = true
  end
  if not unknown and redis.call('SCARD', U) <= max then return 1 end
  if hashed then
    local ok, entry, q = unpack(redis.call('HMGET', r, 'ordering_key', 'entry', 'q'))
    redis.call('DEL', r)
    redis.call('ZREM', P .. 's:pending', k)
    if q == 'z' then redis.call('ZREM', P .. 'delayed', k) end
    if entry and entry ~= announced then
      redis.pcall('XACK', READY, GROUP, entry)
      redis.call('XDEL', READY, entry)
    end
    if ok then
      redis.call('ZREM', P .. 'o:' .. ok, k)
      wake(ok, now)
    end
  end
  redis.call('DEL', nkey)
  redis.call('SREM', U, k)
  redis.pcall('XACK', READY, GROUP, announced)
  redis.call('XDEL', READY, announced)
  return -1
end
for i = 0, count - 1 do
  local b = 4 + 5 * i
  local k, max, packed, announced = ARGV[b], tonumber(ARGV[b + 1]), ARGV[b + 2], ARGV[b + 3]
  local nkey = nk(k)
  local answer
  if ARGV[b + 4] == '1' then
    answer = settle_over(k, nkey, string.sub(packed, 2, 17), announced, max)
  else
    redis.call('XDEL', READY, announced)
    if max >= 0 and (unknown or redis.call('SCARD', U) >= max) then
      -- Full: only a duplicate is answered (as one).
      if redis.call('EXISTS', nkey) == 1 and retained(k, nkey, false) then
        answer = 0
      else
        answer = -1
      end
    else
      local stored = redis.call('SET', nkey, packed, 'NX')
      if not stored and not retained(k, nkey, true) then
        redis.call('SET', nkey, packed)
        stored = true
      end
      if stored then
        local nonce = string.sub(packed, 2, 17)
        local id
        if max >= 0 then
          id = redis.call('XADD', READY, '*', 'k', k, 'f', nonce, 'b', ARGV[b + 1])
        else
          id = redis.call('XADD', READY, '*', 'k', k, 'f', nonce)
        end
        -- Counted at once (in `unfinished`), for the bounded records after it.
        if ahead then materialize(k, id, nonce, now, max >= 0 and ARGV[b + 1] or nil) end
        answer = 1
      else
        answer = 0
      end
    end
  end
  out[#out + 1] = answer
end
return out
";

/// Turns the fresh records announced after the last entry handed out (or turned) into hashes,
/// at most `ARGV[2]` stream entries per call, so that `counts` and `list` see them. `ARGV[3]`
/// is now.
/// Returns {materialized, examined}.
const MATERIALIZE_LUA: &str = r"
local count, examined = materialize_ahead(tonumber(ARGV[2]), tonumber(ARGV[3]))
return {count, examined}
";

/// `ARGV`: prefix, now, lease (ms), token, consumer.
///
/// Returns the leased record's fields ([`FIELDS`]); nil if nothing is due; 1 if it dropped
/// its most entries of the ready stream without finding a record (call again).
const LEASE_LUA: &str = r"
local now, ms, token, consumer = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local HOLD_MS, RETRY_MS = 2000, 50
local function eligible(r, k)
  local ok = redis.call('HGET', r, 'ordering_key')
  if not ok then return true end
  if redis.call('ZRANGE', P .. 'o:' .. ok, 0, 0)[1] ~= k then return false, ok end
  local live = redis.call('ZRANGEBYSCORE', P .. 'h:' .. ok, '(' .. n(now), '+inf', 'LIMIT', 0, 2)
  for _, other in ipairs(live) do
    if other ~= k then return false, ok end
  end
  return true, ok
end
-- A record a bounded accept stored while the inbox was over its bound may be taken back by
-- that accept a moment later: while it is young (received less than HOLD_MS ago, on clocks
-- that agree within HOLD_MS) and the inbox is still over the bound, it waits (RETRY_MS)
-- instead of running.
local function held(r, k, bound)
  local age = now - tonumber(redis.call('HGET', r, 'received_at'))
  if age >= HOLD_MS or age < -HOLD_MS or redis.call('SCARD', U) <= tonumber(bound) then
    return false
  end
  local due = now + RETRY_MS
  redis.call('HSET', r, 'q', 'z', 'deadline', n(due))
  redis.call('HDEL', r, 'entry')
  redis.call('ZADD', P .. 'delayed', due, k)
  return true
end
local function take(r, k, ok, id, count)
  local ends = now + ms
  redis.call('HSET', r, 'status', 'running', 'token', token, 'deadline', n(ends),
    'updated_at', n(now), 'lease_ms', n(ms), 'consumer', consumer)
  redis.call('HINCRBY', r, 'attempts', 1)
  redis.call('HDEL', r, 'q', 'nonce')
  redis.call('ZADD', P .. 'lengths', ms, k)
  if ok then redis.call('ZADD', P .. 'h:' .. ok, ends, k) end
  redis.call('ZREM', P .. 's:pending', k)
  redis.call('ZADD', P .. 's:running', redis.call('HGET', r, 'received_at'), k)
  lease_started(id, consumer, now, count)
  return redis.call('HMGET', r, unpack(FIELDS))
end
-- The start of a running record's lease, and the consumer that holds it.
local function lease_of(r)
  local dl, lms, owner = unpack(redis.call('HMGET', r, 'deadline', 'lease_ms', 'consumer'))
  return (tonumber(dl) or now) - (tonumber(lms) or ms), owner or consumer
end
-- A running record's entry, handed to this consumer, goes back to its lease as it was.
local function give_back(r, id)
  local start, owner = lease_of(r)
  lease_started(id, owner, start, false)
end
-- An entry of the ready stream just handed to this consumer (`claimed`: by `XAUTOCLAIM`,
-- else by `XREADGROUP`). A queued record is taken if it may run, else parked (or held while
-- its accept may take it back); a running record is taken over if its lease is over and it
-- may run, else its entry goes back to its lease as it was; any other entry is dropped.
-- Returns the taken record's fields, or nil.
local function consider(id, f, claimed)
  local k = f[2]
  if f[3] == 'f' then materialize(k, id, f[4], now, f[6]) end
  local r = rk(k)
  local st, q, current, nonce, bound, dl =
    unpack(redis.call('HMGET', r, 'status', 'q', 'entry', 'nonce', 'bound', 'deadline'))
  if current == id and st == 'running' then
    if (tonumber(dl) or 0) <= now then
      local yes, ok = eligible(r, k)
      if yes then return take(r, k, ok, id, claimed) end
      if ok then wake(ok, now) end
    end
    give_back(r, id)
    return nil
  end
  if current == id and st == 'pending' and q == 's' then
    -- Only a bounded record its accept may still take back (it has its nonce) can be held.
    if not (nonce and bound and held(r, k, bound)) then
      local yes, ok = eligible(r, k)
      if yes then return take(r, k, ok, id, claimed) end
      -- Parked: an older record of its ordering key, or a running one, goes first.
      redis.call('HDEL', r, 'q', 'entry')
    end
  end
  redis.call('XACK', READY, GROUP, id)
  redis.call('XDEL', READY, id)
  return nil
end
-- 1. Delayed records that are due join the ready stream.
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', n(now), 'LIMIT', 0, 256)
for _, k in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', k)
  local r = rk(k)
  if redis.call('HGET', r, 'q') == 'z' then
    if redis.call('EXISTS', READY) == 0 then
      redis.call('XGROUP', 'CREATE', READY, GROUP, '0', 'MKSTREAM')
    end
    local id = redis.call('XADD', READY, '*', 'k', k)
    redis.call('HSET', r, 'q', 's', 'entry', id)
  end
end
if redis.call('EXISTS', READY) == 0 then return false end
-- 2. Expired leases. `XAUTOCLAIM` hands this consumer the pending entries idle for at least
-- the shortest lease of any running record, or this call's lease if none runs (the engine's
-- clock turned into the server's), from where the last scan stopped; each is checked against
-- its own lease. After a take-over the rest of the batch goes back as it was, and the next
-- scan starts with it. An entry delivered outside the engine (the group read by hand) is
-- handled as if this consumer had read it.
do
  -- A running record whose entry left the pending list behind the engine's back (its
  -- consumer deleted with `XGROUP DELCONSUMER`, the group made anew at `$`, the stream
  -- trimmed): while the group has fewer pending entries than there are running records, two
  -- running records per call, in turn, are checked, and one whose lease is over without a
  -- pending entry gets it back (a new entry if it is gone) for `XAUTOCLAIM` to find.
  local running = redis.call('ZCARD', P .. 's:running')
  local summary = running > 0 and redis.pcall('XPENDING', READY, GROUP)
  local sweep = {}
  if type(summary) == 'table' and not summary.err and tonumber(summary[1]) < running then
    local at = tonumber(redis.call('GET', P .. 'sweep')) or 0
    sweep = redis.call('ZRANGE', P .. 's:running', at, at + 1)
    local next_at = #sweep == 2 and at + 2 or 0
    if next_at ~= at then redis.call('SET', P .. 'sweep', next_at) end
  end
  for _, k in ipairs(sweep) do
    local r = rk(k)
    local st, id, dl = unpack(redis.call('HMGET', r, 'status', 'entry', 'deadline'))
    if st == 'running' and (tonumber(dl) or 0) <= now then
      local pending = id and redis.pcall('XPENDING', READY, GROUP, id, id, 1)
      if not pending or (type(pending) == 'table' and not pending.err and #pending == 0) then
        local start, owner = lease_of(r)
        if not (id and redis.call('XRANGE', READY, id, id)[1]) then
          id = redis.call('XADD', READY, '*', 'k', k)
          redis.call('HSET', r, 'entry', id)
        end
        redis.pcall('XCLAIM', READY, GROUP, owner, 0, id, 'TIME', n(start), 'FORCE', 'JUSTID')
      end
    end
  end
  local shortest = redis.call('ZRANGE', P .. 'lengths', 0, 0, 'WITHSCORES')[2]
  local t = redis.call('TIME')
  local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local idle = math.max((tonumber(shortest) or ms) + server - now, 0)
  local cursor = redis.call('GET', P .. 'claimed') or '0-0'
  local reply = redis.pcall('XAUTOCLAIM', READY, GROUP, consumer, n(idle), cursor,
    'COUNT', 16, 'JUSTID')
  if type(reply) == 'table' and reply.err then
    -- No group (deleted by hand): step 3 makes it again. Anything else (a server without
    -- `XAUTOCLAIM`) is an error, never leases that silently never end.
    if not string.find(reply.err, 'NOGROUP', 1, true) then return redis.error_reply(reply.err) end
  else
    if reply[1] ~= cursor then redis.call('SET', P .. 'claimed', reply[1]) end
    local taken
    for i, id in ipairs(reply[2]) do
      local entry = redis.call('XRANGE', READY, id, id)[1]
      if not entry then
        redis.pcall('XACK', READY, GROUP, id)
      elseif taken then
        local r = rk(entry[2][2])
        local st, current = unpack(redis.call('HMGET', r, 'status', 'entry'))
        if st == 'running' and current == id then give_back(r, id) end
      else
        taken = consider(id, entry[2], true)
        if taken and reply[2][i + 1] then redis.call('SET', P .. 'claimed', reply[2][i + 1]) end
      end
    end
    if taken then return taken end
  end
end
-- 3. New entries of the ready stream, through the consumer group.
for _ = 1, 64 do
  local reply = redis.pcall('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', 1, 'STREAMS', READY, '>')
  if type(reply) == 'table' and reply.err then
    -- The group was deleted by hand: made again, it reads the stream from the start (entries
    -- of records that are not pending are dropped, those of running ones go back to their
    -- leases).
    if not string.find(reply.err, 'NOGROUP', 1, true) then return redis.error_reply(reply.err) end
    redis.call('XGROUP', 'CREATE', READY, GROUP, '0')
    reply = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', 1, 'STREAMS', READY, '>')
  end
  if not reply then return false end
  local entry = reply[1][2][1]
  local taken = consider(entry[1], entry[2], false)
  if taken then return taken end
end
-- 64 entries dropped (announcements of duplicates, parked records): more may follow.
return 1
";

/// `ARGV`: prefix, key, token, now, lease (ms), consumer.
const HEARTBEAT_LUA: &str = r"
local k, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ms, consumer = tonumber(ARGV[5]), ARGV[6]
local r = rk(k)
if not owned(r, token) then return 0 end
local ends = now + ms
redis.call('HSET', r, 'deadline', n(ends), 'lease_ms', n(ms), 'consumer', consumer)
redis.call('ZADD', P .. 'lengths', ms, k)
local id = redis.call('HGET', r, 'entry')
if id then lease_started(id, consumer, now, false) end
local ok = redis.call('HGET', r, 'ordering_key')
if ok then redis.call('ZADD', P .. 'h:' .. ok, ends, k) end
return 1
";

/// `ARGV`: prefix, key, token, now.
const DONE_LUA: &str = r"
local k, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local r = rk(k)
if not owned(r, token) then return 0 end
local ok = settle(r, k)
local expires = now + tonumber(redis.call('HGET', r, 'retain_ms'))
redis.call('HSET', r, 'status', 'done', 'deadline', n(expires), 'updated_at', n(now))
redis.call('SREM', U, k)
redis.call('ZADD', P .. 's:done', redis.call('HGET', r, 'received_at'), k)
redis.call('ZADD', P .. 'expiry', expires, k)
if ok then
  redis.call('ZREM', P .. 'o:' .. ok, k)
  wake(ok, now)
end
return 1
";

/// `ARGV`: prefix, key, token, now, delay (ms), error.
const RETRY_LUA: &str = r"
local k, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local r = rk(k)
if not owned(r, token) then return 0 end
local ok = settle(r, k)
redis.call('HSET', r, 'status', 'pending', 'deadline', n(now + tonumber(ARGV[5])),
  'last_error', ARGV[6], 'updated_at', n(now))
redis.call('ZADD', P .. 's:pending', redis.call('HGET', r, 'received_at'), k)
enqueue(r, k, now)
if ok then wake(ok, now) end
return 1
";

/// `ARGV`: prefix, key, token, now, error.
const DEAD_LUA: &str = r"
local k, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local r = rk(k)
if not owned(r, token) then return 0 end
local ok = settle(r, k)
redis.call('HSET', r, 'status', 'dead', 'last_error', ARGV[5], 'updated_at', n(now))
redis.call('HDEL', r, 'deadline')
redis.call('SREM', U, k)
redis.call('ZADD', P .. 's:dead', redis.call('HGET', r, 'received_at'), k)
redis.call('ZADD', P .. 'deadsince', now, k)
local id = redis.call('XADD', P .. 'dead', '*', 'k', k, 'error', ARGV[5],
  'attempts', redis.call('HGET', r, 'attempts'), 'at', n(now))
redis.call('HSET', r, 'dl', id)
if ok then
  redis.call('ZREM', P .. 'o:' .. ok, k)
  wake(ok, now)
end
return 1
";

/// `ARGV`: prefix, key, token, now.
const RELEASE_LUA: &str = r"
local k, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local r = rk(k)
if not owned(r, token) then return 0 end
local ok = settle(r, k)
local attempts = math.max(tonumber(redis.call('HGET', r, 'attempts')) - 1, 0)
redis.call('HSET', r, 'status', 'pending', 'deadline', n(now), 'attempts', attempts,
  'updated_at', n(now))
redis.call('ZADD', P .. 's:pending', redis.call('HGET', r, 'received_at'), k)
enqueue(r, k, now)
if ok then wake(ok, now) end
return 1
";

/// Replays one dead record: its dead letter leaves the dead-letter stream, it joins the ready
/// stream (or waits for its ordering key).
const REPLAY_FN: &str = r"
local function replay(k, now)
  local r = rk(k)
  if redis.call('HGET', r, 'status') ~= 'dead' then return 0 end
  local dl = redis.call('HGET', r, 'dl')
  if dl then redis.call('XDEL', P .. 'dead', dl) end
  redis.call('HDEL', r, 'dl')
  redis.call('HSET', r, 'status', 'pending', 'attempts', '0', 'deadline', n(now),
    'updated_at', n(now))
  redis.call('ZREM', P .. 's:dead', k)
  redis.call('ZREM', P .. 'deadsince', k)
  redis.call('ZADD', P .. 's:pending', redis.call('HGET', r, 'received_at'), k)
  redis.call('SADD', U, k)
  local ok = redis.call('HGET', r, 'ordering_key')
  if ok then
    local o = P .. 'o:' .. ok
    redis.call('ZADD', o, redis.call('HGET', r, 'seq'), k)
    if redis.call('ZRANGE', o, 0, 0)[1] ~= k then return 1 end
  end
  enqueue(r, k, now)
  return 1
end
";

/// `ARGV`: prefix, key, now.
const REPLAY_LUA: &str = r"
return replay(ARGV[2], tonumber(ARGV[3]))
";

/// `ARGV`: prefix, since (ms), now, batch. Returns how many were replayed.
const REPLAY_SINCE_LUA: &str = r"
local now = tonumber(ARGV[3])
local keys = redis.call('ZRANGEBYSCORE', P .. 'deadsince', ARGV[2], '+inf', 'LIMIT', 0, ARGV[4])
local count = 0
for _, k in ipairs(keys) do
  local done = replay(k, now)
  if done == 0 then redis.call('ZREM', P .. 'deadsince', k) end
  count = count + done
end
return {count, #keys}
";

/// `ARGV`: prefix, now, batch. Returns {removed, examined}.
const PURGE_LUA: &str = r"
local now = tonumber(ARGV[2])
local keys = redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', n(now), 'LIMIT', 0, ARGV[3])
local count = 0
for _, k in ipairs(keys) do
  local r = rk(k)
  local st, dl = unpack(redis.call('HMGET', r, 'status', 'deadline'))
  if st == 'done' and tonumber(dl) <= now then
    redis.call('DEL', r)
    local nkey = nk(k)
    if not is_fresh(nkey) then redis.call('DEL', nkey) end
    redis.call('ZREM', P .. 's:done', k)
    count = count + 1
  end
  redis.call('ZREM', P .. 'expiry', k)
end
return {count, #keys}
";

fn script(parts: &[&str]) -> Script {
    Script::new(&parts.concat())
}

/// The field list of [`FIELDS`] as a Lua table constructor, for `HMGET` in a script.
fn lua_fields() -> String {
    let quoted: Vec<String> = FIELDS.iter().map(|f| format!("'{f}'")).collect();
    format!("local FIELDS = {{{}}}\n", quoted.join(", "))
}

static ACCEPT: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, ACCEPT_LUA]));
static LEASE: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, &lua_fields(), LEASE_LUA]));
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, HEARTBEAT_LUA]));
static DONE: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, DONE_LUA]));
static RETRY: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, RETRY_LUA]));
static DEAD: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, DEAD_LUA]));
static RELEASE: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, RELEASE_LUA]));
static REPLAY: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, REPLAY_FN, REPLAY_LUA]));
static REPLAY_SINCE: LazyLock<Script> =
    LazyLock::new(|| script(&[PRELUDE, REPLAY_FN, REPLAY_SINCE_LUA]));
static PURGE: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, PURGE_LUA]));
static MATERIALIZE: LazyLock<Script> = LazyLock::new(|| script(&[PRELUDE, MATERIALIZE_LUA]));

/// The inbox engine for fleets (features `redis` and `inbox`): every receiver and worker of
/// the fleet shares one Redis.
///
/// # Layout
///
/// Every key starts with the [prefix](Self::with_prefix) (default `webhook-inbox:`); the table
/// shows what follows it:
///
/// | key | type | holds |
/// | --- | --- | --- |
/// | `r:<key>` | hash | the record: metadata, headers, body, status, attempts, token, due time or lease end (and the lease's length and consumer), last error — **the source of truth** once a worker has seen it |
/// | `n:<key>` | string | the key is taken: a **fresh** record, packed with a nonce (`F…`; `C…` when a bounded accept stored it, `P…` once a duplicate has pinned it), until a worker turns it into `r:<key>`; then the marker `m`, until `purge` removes the record |
/// | `ready` | stream | one entry (`k` = key) per record that is due — a fresh record's entry also has `f` = its nonce; read by the consumer group `workers` with `XREADGROUP`; the entries of running records stay in the group's pending-entry list until the record leaves `running` (`XACK` + `XDEL`) |
/// | `delayed` | sorted set | pending records due later (retries), scored by due time; moved to `ready` when due |
/// | `lengths`, `claimed`, `sweep` | sorted set, strings | running records, scored by the length of their lease (ms); where `lease`'s last `XAUTOCLAIM` scan stopped; where its sweep of running records is |
/// | `dead` | stream | the **dead letters**: one entry (`k`, `error`, `attempts`, `at`) per dead record, removed when it is replayed — `XRANGE webhook-inbox:dead - +` lists them |
/// | `s:<status>` | sorted sets | the keys in each status, scored by received time (`list`, `counts`) |
/// | `deadsince`, `expiry` | sorted sets | dead records by time of death (`replay_dead_since`), done records by end of retention (`purge`) |
/// | `o:<ordering key>`, `h:<ordering key>` | sorted sets | the unfinished records of an ordering key in received order, and its running ones by lease end |
/// | `seq` | string | the received-order counter |
/// | `unfinished` | set | the keys of the pending and running records turned into hashes: what the bound counts |
/// | `mat` | string | the last stream entry whose fresh record was turned into its hash ahead of the workers |
///
/// # Accepting without a script
///
/// An accept without a bound is **two plain commands in one pipeline** (one round trip):
/// `SET n:<key> <packed record> NX`, then an `XADD` of the key to the ready stream. `SET … NX`
/// answers whether the key was free: if so, the record is stored. Redis does little more work
/// than for a raw `XADD` of the same bytes, where a script would cost it several times that
/// (the Lua calls, not the data, were what limited throughput); wrapped in `MULTI`/`EXEC`, the
/// two commands cost about a sixth more CPU, in Redis and in the client.
///
/// The pipeline is not a transaction: a connection lost between the two commands, or a full
/// Redis refusing the `XADD`, leaves the record stored but not announced to the workers, and
/// `accept` fails ([`InboxError::Unavailable`], 503), so the sender sends it again. That accept
/// finds the key taken by a record no worker has turned into its hash, answers `Duplicate`
/// (200), and **announces the record again**: it runs. Any later accept of a fresh record's
/// key announces it again, so a duplicate never depends on the first accept's `XADD`; a worker
/// turns the record into its hash at the first entry with its nonce and drops the others.
/// Until its sender tries again, such a record is not counted, listed as pending or leased.
///
/// The record becomes its hash (`r:<key>`, registered with its ordering key) when a worker
/// reads its stream entry — which is in received order, so ordering keys keep received order
/// — or when [`counts`](InboxEngine::counts) or a [`list`](InboxEngine::list) of pending
/// records needs it; [`get`](InboxEngine::get) reads a fresh record as it is.
///
/// When the key is taken, the accept script decides: a duplicate (nothing changes but that a
/// fresh record is announced again), or a done record past its retention that `purge` has not
/// removed yet (replaced, and announced anew). It deletes the entry the pipeline added.
/// Should that entry outlive it (the process died between the pipeline and the script), the
/// worker that reads it drops it: a record is turned into its hash only at an entry with its
/// own nonce, so a key runs once, and a leftover entry never places a later record before
/// those accepted in between.
///
/// A bounded accept is the same pipeline with two more commands, `XLEN` of the ready stream
/// (which holds an announcement of every record not turned yet) and then `SCARD unfinished`
/// (the records turned into hashes that are pending or running): their sum is never below the
/// number of unfinished records announced before the `XLEN` (a record turned and taken off the
/// stream in between was added to `unfinished` before), the accept's own included; of two
/// concurrent accepts the later `XLEN` counts both. Within the bound, the record is stored.
/// Past it — the sum counts twice the records turned ahead of the workers and still queued,
/// so from about half the bound on — the accept script decides exactly: it turns every
/// announced record into its hash, counts, and takes the record back (`Full`, 503) unless it
/// fits. So accepts racing for the last places store exactly the bound's worth, as with the
/// other engines, and records of receivers with and without a bound sharing the inbox all
/// count. What differs, so that nothing answered 200 is ever lost:
/// * between the pipeline and the script (one round trip) the record is there:
///   [`counts`](InboxEngine::counts) may see up to the accepts in flight above the bound;
/// * a duplicate answered in that moment *pins* the record: it stays, over the bound. So
///   does one a worker took — workers leave a record alone while the inbox is over its
///   bound and the record is under 2 s old (it waits 50 ms at a time), so only a script
///   delayed past that lets one run;
/// * when more than 1 024 announced records wait to be counted, a bounded accept past the
///   pipeline's estimate is refused rather than counted.
///
/// The script calls of concurrent accepts of one engine are grouped, up to 64 records or
/// 1 MiB of bodies per call, each record settled in arrival order as if alone, with up to 4
/// calls in flight. A call that fails for a reason other than an unreachable server is
/// retried record by record, so one record's error is never another's (a record over the
/// bound that the failed call had already taken back is then refused, never answered as
/// stored).
///
/// # Transitions
///
/// Every other transition of the [`InboxEngine`] table is **one Lua script** (`EVALSHA`,
/// reloaded after `NOSCRIPT`), so it is atomic against every other call of every process; the
/// token-checked ones compare the token in the record's hash first and change nothing unless
/// it matches. `lease` moves due retries from the delayed set to the stream, takes over an
/// expired lease if `XAUTOCLAIM` finds one, else reads the next entry with `XREADGROUP … >` (turning a
/// fresh record into its hash); a call that drops 64 entries (leftover announcements, parked
/// records) without finding a record is followed by another.
///
/// **Leases live in the consumer group.** A running record's stream entry stays in the group's
/// pending-entry list, owned by the consumer that holds the lease, with the start of the lease
/// as its last delivery time (set with `XCLAIM … TIME` when the record is taken and at every
/// heartbeat): `XPENDING webhook-inbox:ready workers` shows each running record, its consumer,
/// how long ago its lease began or was renewed (its idle time), and how often it was handed
/// out. `lease` finds expired leases with **`XAUTOCLAIM`**, asking for the entries idle for at
/// least the shortest lease any running record holds (`lengths`), from where its last scan
/// stopped (`claimed`); it checks each against the record's own lease end, takes over the
/// first that is over (a new token, the ordering key checked, the delivery counted — all in the
/// script), and gives every other running record's entry back to its consumer with its lease's
/// start. So leases of any length, renewed to a new length, coexist on one inbox, and every
/// lease is still measured on the engine's [`Clock`] (turned into the server's for
/// `XAUTOCLAIM`), which can be a [`ManualClock`](crate::ManualClock) in tests. An entry
/// delivered outside the engine (the group read by hand) is found the same way and handled as
/// if `lease` had read it. Entries are deleted (`XDEL`) once their record stops running, so
/// the ready stream holds only queued and running records. A running record whose entry left
/// the pending list behind the engine's back — its consumer deleted (`XGROUP DELCONSUMER`),
/// the group made anew at `$`, the stream trimmed — is found by a sweep of two running records
/// per `lease` call (only while the group has fewer pending entries than there are running
/// records) and, once its lease is over, gets an entry back and is taken over.
///
/// **Order**: an expired lease first (in stream order, from where the last scan stopped), then
/// the ready stream in its order: new records in received order, retries from the moment a
/// `lease` call finds them due. A retry that fell due while records accepted after its due
/// time were already queued runs after them (the SQLite engine would run it first); nothing
/// else about order differs.
///
/// **Ordering keys**: a record's ordering key is registered (`o:…`, in received order) when it
/// becomes its hash. A record read from the stream that is not the oldest unfinished record of
/// its key, or while another of its key is running under a live lease, is parked there and
/// queued again when the records before it finish.
///
/// **Redis 6.2 or later** (`XAUTOCLAIM`; scripts replicated by their effects, so `XADD *` and
/// `TIME` inside a script are safe on replicas and in the AOF). On an older server `lease`
/// fails with the server's error rather than leaving leases that never end.
///
/// **Time**: every time is the engine's [`Clock`] in milliseconds, passed to the scripts
/// ([`SystemClock`] by default): the hosts of a fleet need synchronized clocks (NTP), as leases
/// are compared across hosts. Only `XAUTOCLAIM`'s idle time is on the server's clock: `lease`
/// turns the shortest lease into it with the server's `TIME`. Redis stores a lease start ahead
/// of its own clock as its now, so the lease of a host whose clock runs ahead is looked at
/// early — and checked against its end, never taken over early.
///
/// # Durability and failover
///
/// `accept` returns once Redis has run its commands (or script): an accepted record is
/// exactly as durable as the server's persistence.
/// * With `appendonly yes` and `appendfsync always`, the write is on disk before the reply:
///   an accepted record survives a crash of Redis and of its machine.
/// * With `appendfsync everysec` (Redis' default for AOF) up to about a second of accepts can
///   be lost if the machine fails; with RDB snapshots only, everything since the last snapshot.
///   Lost records were acknowledged with 200: the sender will not retry them.
/// * Replication is asynchronous: after a **failover** to a replica, the writes the old primary
///   had not yet replicated are gone (accepted records, but also transitions: a record done on
///   the old primary can run again — at-least-once still holds). Records leased on the old
///   primary run again when their lease ends.
///
/// Redis keeps every record in memory, body included: size it for the unfinished records plus
/// the done ones inside their retention (each also keeps a small `n:<key>` marker), and call
/// [`Inbox::purge`](super::Inbox::purge) regularly. Use `maxmemory-policy noeviction`: records must never be evicted. A full Redis
/// refuses the accept (`OOM`: [`InboxError::Unavailable`], answered 503 + `Retry-After`) and
/// never drops records.
///
/// # Redis Cluster
///
/// The scripts and the accept pipeline touch keys derived from the prefix (each script
/// declares the ready stream as its key, so a cluster client routes it to that key's node), so
/// every key must live on one node: put a hash tag in the prefix (`{billing-inbox}:`). One
/// inbox is then one slot; spread load by giving endpoints their own inboxes (prefixes). Any [`ConnectionLike`] works with
/// [`new`](Self::new), e.g. a cluster connection from redis' `cluster-async` feature.
///
/// # Connections
///
/// [`connect`](Self::connect) builds a [`ConnectionManager`] that reconnects on its own, with
/// bounded time-outs (1 s to connect, 2 s per command): while Redis is unreachable every call
/// fails with [`InboxError::Unavailable`] (the endpoint answers 503 with `Retry-After`), never
/// hangs. A reply lost after the server ran a `lease` leaves that record running under a token
/// nobody holds: it runs when its lease ends.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use webhook_receiver::inbox::{Inbox, RedisInbox};
///
/// let engine = RedisInbox::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("billing-inbox:")?;
/// let inbox = Inbox::new(engine);
/// # let _ = inbox;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisInbox<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    /// `{prefix}ready` and `{prefix}unfinished`, built once: every accept names them.
    ready: Arc<str>,
    unfinished: Arc<str>,
    consumer: Arc<str>,
    clock: Arc<dyn Clock>,
    /// Concurrent accepts of this engine (and its clones) that their pipeline could not
    /// settle go in one script call.
    accepts: Arc<AcceptBatcher>,
}

/// The accept pipeline's answer: whether the record was stored, the id of the stream entry
/// announcing it, and (if bounded) at least how many records are unfinished with it.
type Fresh = (bool, String, i64);

/// A record for the accept script: key, bound (-1: none), packed record, the stream entry its
/// pipeline added, and whether the pipeline stored it (over the bound).
type ScriptAccept = (String, i64, Bytes, String, bool);

/// Records for the accept script; per record, the script's answer or an error shared by the
/// whole call.
type AcceptBatcher = Batcher<ScriptAccept, Answer<i64>>;

/// The most records in one accept call, and their most body bytes past the first record.
const ACCEPT_BATCH: usize = 64;
const ACCEPT_BATCH_BYTES: usize = 1 << 20;
/// Script calls of accepts in flight at once: one runs while the next is prepared and sent.
const ACCEPT_LEADERS: usize = 4;

fn accept_batcher() -> Arc<AcceptBatcher> {
    Arc::new(Batcher::new(
        ACCEPT_BATCH,
        ACCEPT_BATCH_BYTES,
        ACCEPT_LEADERS,
    ))
}

impl<C> fmt::Debug for RedisInbox<C> {
    /// Shows the prefix, consumer and clock, never the connection (its URL may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInbox")
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl RedisInbox<ConnectionManager> {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port/db`) through a
    /// [`ConnectionManager`]: 1 s to connect, 2 s per command at most, two quick reconnection
    /// attempts per call once the connection is lost. For other settings build the manager
    /// yourself and use [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// [`InboxError::Unavailable`] if the server cannot be reached, [`InboxError::Backend`] if
    /// the URL is invalid or the server refuses the connection. The errors never contain the
    /// URL's password.
    pub async fn connect(url: &str) -> Result<Self, InboxError> {
        let config = redis_conn::reconnecting()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let manager = redis_conn::connect(url, config).await.map_err(map_error)?;
        Ok(Self::new(manager))
    }
}

impl<C> RedisInbox<C> {
    /// An engine over `conn`: usually a [`ConnectionManager`]; any cloneable
    /// [`ConnectionLike`] connection works. Clones share the connection.
    pub fn new(conn: C) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.into(),
            ready: format!("{DEFAULT_PREFIX}ready").into(),
            unfinished: format!("{DEFAULT_PREFIX}unfinished").into(),
            consumer: DEFAULT_CONSUMER.into(),
            clock: Arc::new(SystemClock),
            accepts: accept_batcher(),
        }
    }

    /// Namespaces every key (see the layout above). Default: `webhook-inbox:`. Every process
    /// of one inbox needs the same prefix; unrelated inboxes sharing a Redis need different
    /// ones.
    ///
    /// # Errors
    ///
    /// Unless `prefix` is 1 to 256 bytes without spaces or control characters.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        validate_name("prefix", prefix)?;
        self.prefix = prefix.into();
        self.ready = format!("{prefix}ready").into();
        self.unfinished = format!("{prefix}unfinished").into();
        // Batches are written under one prefix.
        self.accepts = accept_batcher();
        Ok(self)
    }

    /// The consumer name this engine reads the ready stream with, so that `XPENDING` shows
    /// which process holds which running record (e.g. the host name). It decides nothing:
    /// leases are checked by token. Default: `webhook-receiver`.
    ///
    /// # Errors
    ///
    /// Unless `name` is 1 to 256 bytes without spaces or control characters.
    pub fn with_consumer(mut self, name: &str) -> Result<Self, ConfigError> {
        validate_name("consumer", name)?;
        self.consumer = name.into();
        Ok(self)
    }

    /// The clock for due times, leases and retention. Default: [`SystemClock`]. Every process
    /// of one inbox must use the same time (a [`ManualClock`](crate::ManualClock) only in
    /// tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        // Batches are written at one clock's time.
        self.accepts = accept_batcher();
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of the ready stream (`{prefix}ready`, consumer group `workers`).
    pub fn ready_stream(&self) -> String {
        self.ready.to_string()
    }

    /// The Redis key of the dead-letter stream (`{prefix}dead`): one entry per dead record,
    /// with the fields `k` (the key), `error`, `attempts` and `at` (Unix milliseconds).
    pub fn dead_letter_stream(&self) -> String {
        format!("{}dead", self.prefix)
    }

    /// The connection.
    pub fn connection(&self) -> &C {
        &self.conn
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// An invocation of `script` with the prefix as `ARGV[1]`, and the ready stream as its one
    /// declared key, so that cluster clients send it to the node of the inbox's slot.
    fn prepare<'s>(&self, script: &'s Script) -> ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation.key(&*self.ready).arg(&*self.prefix);
        invocation
    }

    /// `{prefix}{kind}{key}`: a record's hash (`r:`) or its packed form / marker (`n:`).
    fn record_key(&self, kind: &[u8], key: &[u8]) -> Vec<u8> {
        [self.prefix.as_bytes(), kind, key].concat()
    }
}

impl<C> RedisInbox<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, InboxError> {
        let mut conn = self.conn.clone();
        invocation
            .invoke_async::<T>(&mut conn)
            .await
            .map_err(map_error)
    }

    /// Stores a fresh record unless its key is taken, in one pipeline (not a transaction: see
    /// the type's documentation): a `SET n:<key> <packed> NX` and an `XADD` announcing it to
    /// the workers with its nonce (and its bound) — and, if bounded, `XLEN` of the ready
    /// stream and `SCARD unfinished`, in that order. No script, so Redis does little more than
    /// for a raw `XADD`. Answers whether the record was stored, the announcement's id, and (if
    /// bounded) their sum: at least the number of unfinished records announced before the
    /// `XLEN`, this one included. When the key was taken, the accept script decides
    /// whether that is a duplicate and deletes the announcement (a worker that reads it first
    /// drops it, as its nonce is not the stored record's).
    async fn accept_fresh(&self, key: &str, packed: &[u8], max: i64) -> Result<Fresh, InboxError> {
        // Sized once: the packed record would otherwise grow the command's buffer step by step.
        let mut set =
            redis::Cmd::with_capacity(4, packed.len() + self.prefix.len() + key.len() + 8);
        set.arg("SET")
            .arg(self.record_key(b"n:", key.as_bytes()))
            .arg(packed)
            .arg("NX");
        let mut pipe = redis::pipe();
        pipe.add_command(set)
            .cmd("XADD")
            .arg(&*self.ready)
            .arg("*")
            .arg("k")
            .arg(key)
            .arg("f")
            .arg(&packed[1..=NONCE_LEN]);
        let mut conn = self.conn.clone();
        if max < 0 {
            let (set, id): (Option<()>, String) =
                pipe.query_async(&mut conn).await.map_err(map_error)?;
            return Ok((set.is_some(), id, 0));
        }
        pipe.arg("b")
            .arg(max)
            .cmd("XLEN")
            .arg(&*self.ready)
            .cmd("SCARD")
            .arg(&*self.unfinished);
        let (set, id, announced, turned): (Option<()>, String, i64, i64) =
            pipe.query_async(&mut conn).await.map_err(map_error)?;
        Ok((set.is_some(), id, turned.saturating_add(announced)))
    }

    /// Settles `records` (key, bound or -1, packed record, the pipeline's announcement,
    /// whether it was stored over the bound) in one accept script call; one answer per
    /// record, in order.
    async fn accept_script(&self, records: &[ScriptAccept]) -> Result<Vec<i64>, InboxError> {
        let mut invocation = self.prepare(&ACCEPT);
        invocation.arg(self.now()).arg(records.len());
        for (key, max, packed, announced, over) in records {
            invocation
                .arg(key.as_str())
                .arg(*max)
                .arg(&packed[..])
                .arg(announced.as_str())
                .arg(u8::from(*over));
        }
        let answers: Vec<i64> = self.invoke(invocation).await?;
        if answers.len() != records.len() {
            return Err(InboxError::backend(
                "accept answered for another number of records",
            ));
        }
        Ok(answers)
    }

    /// Turns every fresh record into its hash, so that the status sets count it.
    async fn materialize(&self) -> Result<(), InboxError> {
        let now = self.now();
        self.batches(&MATERIALIZE, |invocation| {
            invocation.arg(BATCH).arg(now);
        })
        .await
        .map(|_| ())
    }

    /// A token-checked transition: `ARGV` = prefix, key, token, now, `extra`.
    async fn owned(
        &self,
        script: &Script,
        key: &str,
        token: LeaseToken,
        extra: &[&[u8]],
    ) -> Result<bool, InboxError> {
        let mut invocation = self.prepare(script);
        invocation.arg(key).arg(token_hex(token)).arg(self.now());
        for value in extra {
            invocation.arg(*value);
        }
        Ok(self.invoke::<i64>(invocation).await? == 1)
    }

    /// Runs a batched script (`replay_dead_since`, `purge`) until a batch comes back short.
    async fn batches(
        &self,
        script: &Script,
        args: impl Fn(&mut ScriptInvocation<'_>),
    ) -> Result<u64, InboxError> {
        let mut total = 0u64;
        // Bounded: each batch removes what it examined from its set; 100 000 batches is far
        // beyond any real backlog.
        for _ in 0..100_000 {
            let mut invocation = self.prepare(script);
            args(&mut invocation);
            let (count, examined): (u64, u64) = self.invoke(invocation).await?;
            total += count;
            if examined < u64::from(BATCH) {
                break;
            }
        }
        Ok(total)
    }
}

impl<C> InboxEngine for RedisInbox<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> Result<Accepted, InboxError> {
        let max = max_unfinished.map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX));
        let packed = Bytes::from(pack(record, self.now(), max >= 0));
        let (stored, announced, estimate) = self.accept_fresh(&record.key, &packed, max).await?;
        if stored && (max < 0 || estimate <= max) {
            return Ok(Accepted::Stored);
        }
        // The key is taken, or the record was stored over the bound: the script decides,
        // grouped with concurrent accepts.
        let answer = self
            .accepts
            .write(
                || {
                    (
                        record.key.clone(),
                        max,
                        packed.clone(),
                        announced.clone(),
                        stored,
                    )
                },
                packed.len(),
                |group| async move { self.accept_script(&group).await },
            )
            .await?;
        match answer {
            1 => Ok(Accepted::Stored),
            0 => Ok(Accepted::Duplicate),
            -1 => Err(InboxError::Full {
                limit: max_unfinished.unwrap_or(0),
            }),
            _ => Err(InboxError::backend("unexpected reply to accept")),
        }
    }

    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        let token = LeaseToken::random();
        // Bounded: each call drops up to 64 stream entries (duplicates' announcements, parked
        // records); 10 000 calls is far beyond any real backlog of them.
        for _ in 0..10_000 {
            let mut invocation = self.prepare(&LEASE);
            invocation
                .arg(self.now())
                .arg(millis(lease).max(1))
                .arg(token_hex(token))
                .arg(&*self.consumer);
            match self.invoke::<redis::Value>(invocation).await? {
                redis::Value::Nil => return Ok(None),
                redis::Value::Int(1) => {}
                reply => {
                    let fields: Vec<Option<Vec<u8>>> =
                        redis::FromRedisValue::from_redis_value(reply)
                            .map_err(|e| map_error(e.into()))?;
                    let record =
                        super::engine::readable(self, token, record_from_fields(fields)).await?;
                    return Ok(Some(Leased::new(record, token)));
                }
            }
        }
        Ok(None)
    }

    async fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> Result<bool, InboxError> {
        let ms = millis(lease).max(1).to_string();
        self.owned(
            &HEARTBEAT,
            key,
            token,
            &[ms.as_bytes(), self.consumer.as_bytes()],
        )
        .await
    }

    async fn done(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.owned(&DONE, key, token, &[]).await
    }

    async fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> Result<bool, InboxError> {
        let ms = millis(delay).to_string();
        self.owned(&RETRY, key, token, &[ms.as_bytes(), error.as_bytes()])
            .await
    }

    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        self.owned(&DEAD, key, token, &[error.as_bytes()]).await
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.owned(&RELEASE, key, token, &[]).await
    }

    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        let mut conn = self.conn.clone();
        // One transaction: a record turned into its hash, or replaced, between two reads
        // would otherwise be missed.
        let (fresh, fields): (Option<Vec<u8>>, Vec<Option<Vec<u8>>>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(self.record_key(b"n:", key.as_bytes()))
            .cmd("HMGET")
            .arg(self.record_key(b"r:", key.as_bytes()))
            .arg(&FIELDS[..])
            .query_async(&mut conn)
            .await
            .map_err(map_error)?;
        if let Some(packed) = fresh.filter(|p| matches!(p.first(), Some(b'F' | b'C' | b'P'))) {
            return unpack(key, &packed).map(Some);
        }
        if fields.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        record_from_fields(fields).map(Some)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        if query.status == Status::Pending {
            self.materialize().await?;
        }
        let limit = usize::try_from(query.limit.max(1)).unwrap_or(usize::MAX);
        let set = self.key(&format!("s:{}", query.status.as_str()));
        let mut conn = self.conn.clone();
        let keys: Vec<Vec<u8>> = match &query.after {
            None => redis::cmd("ZRANGE")
                .arg(&set)
                .arg(0)
                .arg(limit - 1)
                .query_async(&mut conn)
                .await
                .map_err(map_error)?,
            Some((received_at, after)) => {
                // Members with equal scores are ordered by their bytes: the ties at the cursor's
                // time are filtered here, the rest read from just after it.
                let at = unix_millis(*received_at);
                let (ties, rest): (Vec<Vec<u8>>, Vec<Vec<u8>>) = redis::pipe()
                    .cmd("ZRANGEBYSCORE")
                    .arg(&set)
                    .arg(at)
                    .arg(at)
                    .cmd("ZRANGEBYSCORE")
                    .arg(&set)
                    .arg(format!("({at}"))
                    .arg("+inf")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut conn)
                    .await
                    .map_err(map_error)?;
                ties.into_iter()
                    .filter(|k| k.as_slice() > after.as_bytes())
                    .chain(rest)
                    .take(limit)
                    .collect()
            }
        };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            let redis_key = self.record_key(b"r:", key);
            pipe.cmd("HMGET")
                .arg(&redis_key)
                .arg(&FIELDS[..META_FIELDS])
                .cmd("HSTRLEN")
                .arg(&redis_key)
                .arg("body");
        }
        let rows: Vec<(Vec<Option<Vec<u8>>>, u64)> =
            pipe.query_async(&mut conn).await.map_err(map_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for (fields, body_len) in rows {
            // A record that changed status (or was purged) since the index was read is skipped.
            if fields.first().is_none_or(Option::is_none) {
                continue;
            }
            let meta = meta_from_fields(&fields, body_len)?;
            if meta.status == query.status {
                out.push(meta);
            }
        }
        Ok(out)
    }

    async fn counts(&self) -> Result<Counts, InboxError> {
        self.materialize().await?;
        let mut conn = self.conn.clone();
        let (pending, running, done, dead, oldest): CountsReply = redis::pipe()
            .atomic()
            .zcard(self.key("s:pending"))
            .zcard(self.key("s:running"))
            .zcard(self.key("s:done"))
            .zcard(self.key("s:dead"))
            .zrange_withscores(self.key("s:pending"), 0, 0)
            .query_async(&mut conn)
            .await
            .map_err(map_error)?;
        let mut counts = Counts::new();
        counts.pending = pending;
        counts.running = running;
        counts.done = done;
        counts.dead = dead;
        counts.oldest_pending = oldest
            .first()
            .map(|(_, ms)| datetime("", *ms as i64))
            .transpose()?;
        Ok(counts)
    }

    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        let mut invocation = self.prepare(&REPLAY);
        invocation.arg(key).arg(self.now());
        Ok(self.invoke::<i64>(invocation).await? == 1)
    }

    async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        let since = unix_millis(since);
        let now = self.now();
        self.batches(&REPLAY_SINCE, |invocation| {
            invocation.arg(since).arg(now).arg(BATCH);
        })
        .await
    }

    async fn purge(&self) -> Result<u64, InboxError> {
        let now = self.now();
        self.batches(&PURGE, |invocation| {
            invocation.arg(now).arg(BATCH);
        })
        .await
    }
}

/// The `counts` pipeline's reply: four `ZCARD`s and the oldest pending (key, received at).
type CountsReply = (u64, u64, u64, u64, Vec<(Vec<u8>, f64)>);

/// A fresh record as `accept` stores it in `n:<key>` until it becomes its hash: `F` (`C` when
/// a bounded accept stores it, so that its accept may take it back; the accept script turns
/// that into `P` when a duplicate pins it), a [`nonce`] of [`NONCE_LEN`] hex digits (its
/// stream entry carries it too), then ten
/// items in this order — received at (ms), retention (ms), endpoint, provider, headers, event
/// id, signed at, key label, ordering key, body — each `<length>:<bytes>`, or `x` if absent.
/// The scripts read it with `unpack_fresh`, [`unpack`] reads it for `get`.
fn pack(record: &NewRecord, now: i64, bounded: bool) -> Vec<u8> {
    use std::io::Write as _;
    fn item(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.push(b'x'),
            Some(value) => {
                // Writing to a `Vec` cannot fail.
                let _ = write!(out, "{}:", value.len());
                out.extend_from_slice(value);
            }
        }
    }
    /// The decimal digits of `n`, without allocating.
    fn digits(n: i64, buf: &mut [u8; 20]) -> &[u8] {
        let mut rest = &mut buf[..];
        // At most 20 bytes (`-9223372036854775808`): writing cannot fail.
        let _ = write!(rest, "{n}");
        let len = 20 - rest.len();
        &buf[..len]
    }
    let headers = encode_headers(&record.headers);
    let mut out = Vec::with_capacity(
        96 + record.endpoint.len() + record.provider.len() + headers.len() + record.body.len(),
    );
    let mut buf = [0; 20];
    out.push(if bounded { b'C' } else { b'F' });
    let _ = write!(out, "{:016x}", nonce());
    item(&mut out, Some(digits(now, &mut buf)));
    item(&mut out, Some(digits(millis(record.retain), &mut buf)));
    item(&mut out, Some(record.endpoint.as_bytes()));
    item(&mut out, Some(record.provider.as_bytes()));
    item(&mut out, Some(&headers));
    item(&mut out, record.event_id.as_deref().map(str::as_bytes));
    item(&mut out, record.signed_at.map(|s| digits(s, &mut buf)));
    item(&mut out, record.key_label.as_deref().map(str::as_bytes));
    item(&mut out, record.ordering_key.as_deref().map(str::as_bytes));
    item(&mut out, Some(&record.body));
    out
}

/// A fresh record's nonce, which tells its accept's own record from another accept's of the
/// same key: a process-wide start drawn once from the operating system's random source, plus
/// a counter. Unique within the process; two processes repeat one only if their starts fall
/// within as many accepts of each other (odds about 2^-33 after a billion accepts each), and
/// then only matters for two accepts of one key. No system call per record, as a random
/// draw each time would be.
fn nonce() -> u64 {
    static START: LazyLock<u64> = LazyLock::new(|| LeaseToken::random().get() as u64);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    START.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh record read back from its [`pack`]ed form: pending, never attempted.
fn unpack(key: &str, packed: &[u8]) -> Result<Record, InboxError> {
    let corrupt = || InboxError::corrupt(key, "a fresh record does not parse");
    // `C` and `P`: the same, stored by a bounded accept.
    let mut rest = packed
        .strip_prefix(b"F")
        .or_else(|| packed.strip_prefix(b"C"))
        .or_else(|| packed.strip_prefix(b"P"))
        .and_then(|rest| rest.get(NONCE_LEN..))
        .ok_or_else(corrupt)?;
    let mut items: Vec<Option<Vec<u8>>> = Vec::with_capacity(10);
    for _ in 0..10 {
        if let Some(after) = rest.strip_prefix(b"x") {
            items.push(None);
            rest = after;
            continue;
        }
        let colon = rest.iter().position(|&b| b == b':').ok_or_else(corrupt)?;
        let len: usize = std::str::from_utf8(&rest[..colon])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(corrupt)?;
        let value = rest
            .get(colon + 1..)
            .and_then(|after| after.get(..len))
            .ok_or_else(corrupt)?;
        items.push(Some(value.to_vec()));
        rest = &rest[colon + 1 + len..];
    }
    if !rest.is_empty() {
        return Err(corrupt());
    }
    let received_ms = number(key, &items[0])?.ok_or_else(corrupt)?;
    let received_at = datetime(key, received_ms)?;
    let mut meta = RecordMeta::new(
        key,
        text(key, &items[2], "no endpoint")?,
        text(key, &items[3], "no provider")?,
        received_at,
    );
    meta.event_id = optional_text(key, &items[5])?;
    meta.signed_at = number(key, &items[6])?;
    meta.key_label = optional_text(key, &items[7])?;
    meta.ordering_key = optional_text(key, &items[8])?;
    meta.status = Status::Pending;
    meta.attempts = 0;
    meta.run_at = Some(received_at);
    meta.updated_at = received_at;
    meta.retain =
        Duration::from_millis(u64::try_from(number(key, &items[1])?.unwrap_or(0)).unwrap_or(0));
    let body = items[9].take().unwrap_or_default();
    meta.body_len = body.len() as u64;
    let headers = decode_headers(key, items[4].as_deref().unwrap_or_default())?;
    Ok(Record::new(meta, headers, Bytes::from(body)))
}

fn token_hex(token: LeaseToken) -> String {
    format!("{:032x}", token.get())
}

fn text(key: &str, value: &Option<Vec<u8>>, what: &'static str) -> Result<String, InboxError> {
    let bytes = value
        .as_ref()
        .ok_or_else(|| InboxError::corrupt(key, what))?;
    String::from_utf8(bytes.clone()).map_err(|_| InboxError::corrupt(key, what))
}

fn optional_text(key: &str, value: &Option<Vec<u8>>) -> Result<Option<String>, InboxError> {
    value
        .as_ref()
        .map(|bytes| {
            String::from_utf8(bytes.clone())
                .map_err(|_| InboxError::corrupt(key, "a stored text is not UTF-8"))
        })
        .transpose()
}

fn number(key: &str, value: &Option<Vec<u8>>) -> Result<Option<i64>, InboxError> {
    value
        .as_ref()
        .map(|bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| InboxError::corrupt(key, "a stored number is invalid"))
        })
        .transpose()
}

/// Metadata from the first [`META_FIELDS`] of [`FIELDS`].
fn meta_from_fields(fields: &[Option<Vec<u8>>], body_len: u64) -> Result<RecordMeta, InboxError> {
    if fields.len() < META_FIELDS {
        return Err(InboxError::backend("a record read returned too few fields"));
    }
    let key = text("", &fields[0], "the stored key is missing or not UTF-8")?;
    let time = |i: usize, what: &'static str| -> Result<OffsetDateTime, InboxError> {
        let ms = number(&key, &fields[i])?.ok_or_else(|| InboxError::corrupt(&key, what))?;
        datetime(&key, ms)
    };
    let received_at = time(7, "no received_at")?;
    let updated_at = time(11, "no updated_at")?;
    let deadline = number(&key, &fields[10])?
        .map(|ms| datetime(&key, ms))
        .transpose()?;
    let status: Status = text(&key, &fields[8], "no status")?
        .parse()
        .map_err(|_| InboxError::corrupt(&key, "unknown status"))?;
    let mut meta = RecordMeta::new(
        key.clone(),
        text(&key, &fields[1], "no endpoint")?,
        text(&key, &fields[2], "no provider")?,
        received_at,
    );
    meta.event_id = optional_text(&key, &fields[3])?;
    meta.signed_at = number(&key, &fields[4])?;
    meta.key_label = optional_text(&key, &fields[5])?;
    meta.ordering_key = optional_text(&key, &fields[6])?;
    meta.status = status;
    meta.attempts = u32::try_from(number(&key, &fields[9])?.unwrap_or(0)).unwrap_or(0);
    meta.run_at = match status {
        Status::Pending | Status::Running => deadline,
        _ => None,
    };
    meta.expires_at = match status {
        Status::Done => deadline,
        _ => None,
    };
    meta.updated_at = updated_at;
    meta.last_error = optional_text(&key, &fields[12])?;
    meta.body_len = body_len;
    meta.retain =
        Duration::from_millis(u64::try_from(number(&key, &fields[13])?.unwrap_or(0)).unwrap_or(0));
    Ok(meta)
}

/// A record from all of [`FIELDS`].
fn record_from_fields(mut fields: Vec<Option<Vec<u8>>>) -> Result<Record, InboxError> {
    if fields.len() != FIELDS.len() {
        return Err(InboxError::backend("a record read returned too few fields"));
    }
    let body = fields.pop().flatten().unwrap_or_default();
    let headers = fields.pop().flatten().unwrap_or_default();
    let meta = meta_from_fields(&fields, body.len() as u64)?;
    let headers = decode_headers(&meta.key, &headers)?;
    Ok(Record::new(meta, headers, Bytes::from(body)))
}

/// Connection, I/O and time-out errors, and the server's transient states (loading, failover,
/// cluster down, read-only replica, memory full), are [`InboxError::Unavailable`]; everything
/// else is [`InboxError::Backend`].
fn map_error(error: RedisError) -> InboxError {
    if redis_conn::unavailable(&error) {
        InboxError::unavailable(error)
    } else {
        InboxError::backend(error)
    }
}

fn validate_name(setting: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ConfigError::invalid(
            setting,
            format!("must be 1 to {MAX_NAME_LEN} bytes long"),
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(
            setting,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("prefix", "billing-inbox:").is_ok());
        assert!(validate_name("prefix", "{inbox}:").is_ok());
        for bad in ["", "with space", "tab\t", "nl\n", "nul\0", &"x".repeat(257)] {
            assert!(validate_name("prefix", bad).is_err(), "{bad:?}");
        }
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        assert!(RedisInbox::new(client).with_prefix("a b").is_err());
    }

    #[test]
    fn nonces_never_repeat_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| nonce()).collect::<Vec<_>>()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for thread in threads {
            for nonce in thread.join().unwrap() {
                assert!(seen.insert(nonce), "nonce {nonce:016x} handed out twice");
            }
        }
        assert_eq!(seen.len(), 40_000);
    }

    #[test]
    fn corrupt_fields_are_errors_not_panics() {
        let mut fields: Vec<Option<Vec<u8>>> =
            FIELDS.iter().map(|f| Some(f.as_bytes().to_vec())).collect();
        assert!(matches!(
            record_from_fields(fields.clone()),
            Err(InboxError::Corrupt { .. })
        ));
        fields.truncate(3);
        assert!(record_from_fields(fields).is_err());
        assert!(datetime("k", i64::MAX).is_err());
        assert_eq!(millis(Duration::MAX), crate::clock::MAX_STORED_MILLIS);
    }

    #[test]
    fn a_packed_record_reads_back_whole() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-event", http::HeaderValue::from_static("a:b"));
        for signed_at in [None, Some(0), Some(i64::MIN), Some(i64::MAX)] {
            let mut record = NewRecord::new("k:1", "ep", "prov", &b"x:1\0"[..])
                .with_event_id("evt:1")
                .with_ordering_key("")
                .with_headers(headers.clone());
            record.signed_at = signed_at;
            let packed = pack(&record, 1_767_225_600_123, signed_at.is_some());
            let back = unpack("k:1", &packed).unwrap();
            assert_eq!((back.body, back.headers), (record.body, record.headers));
            let meta = back.meta;
            assert_eq!(meta.signed_at, signed_at);
            assert_eq!(meta.event_id.as_deref(), Some("evt:1"));
            assert_eq!(meta.ordering_key.as_deref(), Some(""));
            assert_eq!(meta.key_label, None);
            assert_eq!(meta.retain, record.retain);
            assert_eq!(
                meta.received_at.unix_timestamp_nanos(),
                1_767_225_600_123_000_000
            );
            assert!(unpack("k:1", &packed[..packed.len() - 1]).is_err());
            // Pinned by a duplicate (`C` becomes `P`): the same record.
            if packed[0] == b'C' {
                let pinned = [&b"P"[..], &packed[1..]].concat();
                assert_eq!(unpack("k:1", &pinned).unwrap().meta, meta);
            }
            let other = [&b"m"[..], &packed[1..]].concat();
            assert!(unpack("k:1", &other).is_err());
        }
    }

    #[test]
    fn debug_never_shows_the_connection() {
        let client = redis::Client::open("redis://user:hunter2@127.0.0.1:1").unwrap();
        let shown = format!("{:?}", RedisInbox::new(client));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
