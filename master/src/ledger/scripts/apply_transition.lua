-- Moves a block from one state to the next together with its balance
-- changes, in one atomic step. If the block is no longer in the expected
-- state (the step was already applied, or another unlocker moved it) nothing
-- changes and 0 is returned; 1 when applied.
-- KEYS[1] block records, KEYS[2] index of the expected state, KEYS[3] index
-- of the new state, KEYS[4] immature balances, KEYS[5] confirmed balances
-- ARGV[1] block hash, ARGV[2] new record JSON, ARGV[3] height, ARGV[4] op
-- count, then per op: balance ('i' immature, 'c' confirmed), address, signed
-- amount
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
local at = 5
for _ = 1, tonumber(ARGV[4]) do
  local balances = KEYS[4]
  if ARGV[at] == 'c' then balances = KEYS[5] end
  redis.call('HINCRBY', balances, ARGV[at + 1], ARGV[at + 2])
  at = at + 3
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
