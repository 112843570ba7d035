-- Closes the pool's round at a found block, once per block: the share
-- difficulty counted since the last block becomes this block's round
-- shares, the counter starts again at 0, and the luck sums and the finder's
-- block count grow. A second call for the same block changes nothing and
-- answers the stored round shares.
-- KEYS[1] pool stats (field `round`), KEYS[2] round shares by block,
-- KEYS[3] luck sums by hour, KEYS[4] luck sums of all time, KEYS[5] blocks
-- found by address
-- ARGV[1] block hash, ARGV[2] network difficulty, ARGV[3] the block's hour,
-- ARGV[4] oldest hour kept, ARGV[5] finder address
local stored = redis.call('HGET', KEYS[2], ARGV[1])
if stored then
  return stored
end
local shares = redis.call('HGET', KEYS[1], 'round') or '0'
if shares ~= '0' then
  redis.call('HSET', KEYS[1], 'round', '0')
end
redis.call('HSET', KEYS[2], ARGV[1], shares)
local hour = ARGV[3]
redis.call('HINCRBY', KEYS[3], 'b:' .. hour, 1)
redis.call('HINCRBY', KEYS[3], 's:' .. hour, shares)
redis.call('HINCRBY', KEYS[3], 'd:' .. hour, ARGV[2])
redis.call('HINCRBY', KEYS[4], 'blocks', 1)
redis.call('HINCRBY', KEYS[4], 'round_shares', shares)
redis.call('HINCRBY', KEYS[4], 'difficulty', ARGV[2])
redis.call('HINCRBY', KEYS[5], ARGV[5], 1)
local oldest = tonumber(ARGV[4])
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
  if tonumber(string.sub(field, 3)) < oldest then
    redis.call('HDEL', KEYS[3], field)
  end
end
return shares
