-- Stores a new block record once: a second insert of the same hash changes
-- nothing. Returns 1 when stored, 0 when the hash was already there.
-- KEYS[1] block records, KEYS[2] index of the record's state, KEYS[3] index
-- by height
-- ARGV[1] block hash, ARGV[2] record JSON, ARGV[3] height
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
