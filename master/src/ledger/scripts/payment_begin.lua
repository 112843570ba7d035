-- Writes a payment ahead of the wallet call: moves each transfer's debit
-- (amount + withdrawal fee) from the confirmed to the pending balance and
-- stores the record as unsettled, in one atomic step. Returns 1 when
-- written, 0 when a payment with this id already exists (nothing changes),
-- -N when the confirmed balance of the N-th address no longer covers its
-- debit (nothing changes).
-- KEYS[1] payment records, KEYS[2] index by creation time, KEYS[3] unsettled
-- ids, KEYS[4] confirmed balances, KEYS[5] pending balances
-- ARGV[1] id, ARGV[2] record JSON, ARGV[3] created_ms, ARGV[4] transfer
-- count, then per transfer: address, debit, the debit negated (Redis adds
-- them as exact integers; only the coverage check goes through Lua numbers,
-- exact below 2^53 atomic units)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
local count = tonumber(ARGV[4])
for i = 1, count do
  local at = 2 + 3 * i
  local balance = tonumber(redis.call('HGET', KEYS[4], ARGV[at]) or '0')
  if balance < tonumber(ARGV[at + 1]) then
    return -i
  end
end
for i = 1, count do
  local at = 2 + 3 * i
  redis.call('HINCRBY', KEYS[4], ARGV[at], ARGV[at + 2])
  redis.call('HINCRBY', KEYS[5], ARGV[at], ARGV[at + 1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
