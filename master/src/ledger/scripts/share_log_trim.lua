-- Drops up to ARGV[3] share-log seconds older than ARGV[2]: their bucket
-- hashes, totals and index entries together. Returns how many it dropped;
-- the caller calls again while that equals the limit.
-- KEYS[1] share-log index, KEYS[2] share-log totals
-- ARGV[1] bucket key prefix (the second is appended), ARGV[2] cutoff second
-- (exclusive), ARGV[3] limit
local seconds = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
if #seconds == 0 then
  return 0
end
for _, second in ipairs(seconds) do
  redis.call('DEL', ARGV[1] .. second)
end
redis.call('HDEL', KEYS[2], unpack(seconds))
redis.call('ZREM', KEYS[1], unpack(seconds))
return #seconds
