-- Writes the new shares of one batch and advances the boot's high-water
-- mark, in one atomic step. The arguments are laid out by
-- master/src/ledger/batch/plan.rs (script_call); docs/REDIS.md lists the keys.
--
-- Replies {status, high_water}:
--   'ok'        written; the mark is now last_seq
--   'duplicate' every seq is at or below the mark; nothing written
--   'overlap'   some seqs are at or below the mark; nothing written (the
--               caller cuts the batch after the mark and calls again)
--   'gap'       first_seq is beyond mark + 1; nothing written
--
-- Every check comes before the first write, and no command below can fail on
-- arguments the caller built, so a batch is written whole or not at all.

local first = tonumber(ARGV[1])
local last = tonumber(ARGV[2])
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')

if last <= mark then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {'duplicate', mark}
end
if first > mark + 1 then
  return {'gap', mark}
end
if first <= mark then
  return {'overlap', mark}
end

redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])

local idle_ttl = ARGV[4]
local idle_cutoff = '(' .. ARGV[5]
local oldest_bucket = tonumber(ARGV[6])
local workers = tonumber(ARGV[7])
local miners = tonumber(ARGV[8])
local seconds = tonumber(ARGV[9])
local at = 10

-- Adds the tally at ARGV[at] to the hash `key`: counts, hashrate buckets,
-- last share time (a worker's in `index`, its miner's worker index; the
-- pool's, whose `index` is nil, in its hash). Returns where the next record
-- starts. A worker with only refused shares in the batch is counted only
-- if it exists already: refused shares never create a worker's key or
-- index entry, so junk cannot fill Redis.
local function tally(key, index, member)
  local valid = ARGV[at]
  local invalid = ARGV[at + 1]
  local stale = ARGV[at + 2]
  local last_ms = ARGV[at + 3]
  local rates = tonumber(ARGV[at + 4])
  at = at + 5

  -- Refused-only tallies carry no hashrate buckets (rates is 0).
  if index and valid == '0' and redis.call('EXISTS', key) == 0 then
    at = at + 2 * rates
    return
  end
  if valid ~= '0' then redis.call('HINCRBY', key, 'valid', valid) end
  if invalid ~= '0' then redis.call('HINCRBY', key, 'invalid', invalid) end
  if stale ~= '0' then redis.call('HINCRBY', key, 'stale', stale) end

  -- A bucket's first write (the sum equals what was added) is when the
  -- expiry is refreshed and old buckets and idle index members dropped:
  -- once per bucket width, not per batch.
  local fresh = rates == 0
  for _ = 1, rates do
    local bucket = ARGV[at]
    local difficulty = ARGV[at + 1]
    at = at + 2
    if redis.call('HINCRBY', key, 'h:' .. bucket, difficulty) == tonumber(difficulty) then
      fresh = true
    end
  end

  if index then
    redis.call('ZADD', index, 'GT', last_ms, member)
  else
    redis.call('HSET', key, 'last_share_ms', last_ms)
  end

  if fresh then
    redis.call('EXPIRE', key, idle_ttl)
    for _, field in ipairs(redis.call('HKEYS', key)) do
      if string.sub(field, 1, 2) == 'h:' and tonumber(string.sub(field, 3)) < oldest_bucket then
        redis.call('HDEL', key, field)
      end
    end
    redis.call('ZREMRANGEBYSCORE', index or KEYS[4], '-inf', idle_cutoff)
    if index then redis.call('EXPIRE', index, idle_ttl) end
  end
end

-- The pool, then each worker: KEYS[4 + 2i] is worker i's hash and
-- KEYS[5 + 2i] its miner's worker index.
tally(KEYS[5], nil, nil)
for i = 1, workers do
  local member = ARGV[at]
  at = at + 1
  tally(KEYS[4 + 2 * i], KEYS[5 + 2 * i], member)
end

-- Lua's unpack is capped by its C stack (8000 values): long argument lists
-- go to Redis in chunks of this many records.
local chunk = 1000

-- Miners: last share time, one ZADD per chunk (not one per miner).
local done = 0
while done < miners do
  local n = math.min(chunk, miners - done)
  local scored = {'GT'}
  for j = 1, n do
    scored[2 * j] = ARGV[at + 1]
    scored[2 * j + 1] = ARGV[at]
    at = at + 2
  end
  redis.call('ZADD', KEYS[4], unpack(scored))
  done = done + n
end

-- PPLNS share log: per second, summed weight per address. The weights
-- also add up to the pool's current round (`round` in the pool's stats
-- hash, KEYS[5]), which a found block closes (round_close.lua).
local round = 0
for j = 1, seconds do
  local key = KEYS[5 + 2 * workers + j]
  local second = ARGV[at]
  local total = ARGV[at + 1]
  local entries = tonumber(ARGV[at + 2])
  at = at + 3
  redis.call('HINCRBY', KEYS[3], second, total)
  round = round + tonumber(total)
  redis.call('ZADD', KEYS[2], second, second)
  for _ = 1, entries do
    local address = ARGV[at]
    local weight = ARGV[at + 1]
    at = at + 2
    redis.call('HINCRBY', key, address, weight)
  end
end
if round > 0 then
  redis.call('HINCRBY', KEYS[5], 'round', string.format('%.0f', round))
end

return {'ok', last}
