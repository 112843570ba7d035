-- Moves a payment to its next status with its balance changes and history
-- entries, in one atomic step, only if the stored record is still exactly
-- the one the caller read (compare and set). Returns 1 when applied, 0 when
-- the record changed meanwhile (nothing changes).
-- KEYS[1] payment records, KEYS[2] unsettled ids, KEYS[3] confirmed
-- balances, KEYS[4] pending balances, KEYS[5] paid balances, KEYS[6] fee
-- total, KEYS[7..] the history list of each entry in ARGV
-- ARGV[1] id, ARGV[2] record JSON read, ARGV[3] new record JSON, ARGV[4]
-- '1' to drop the id from the unsettled set, ARGV[5] op count, then per op:
-- balance ('c' confirmed, 'p' pending, 'd' paid, 'f' fee total), address
-- (ignored for 'f'), signed amount; then one history JSON per KEYS[7..]
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
local balances = { c = KEYS[3], p = KEYS[4], d = KEYS[5] }
local at = 6
for _ = 1, tonumber(ARGV[5]) do
  if ARGV[at] == 'f' then
    redis.call('INCRBY', KEYS[6], ARGV[at + 2])
  else
    redis.call('HINCRBY', balances[ARGV[at]], ARGV[at + 1], ARGV[at + 2])
  end
  at = at + 3
end
for k = 7, #KEYS do
  redis.call('LPUSH', KEYS[k], ARGV[at])
  at = at + 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
