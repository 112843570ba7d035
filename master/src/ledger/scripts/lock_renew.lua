-- Extends a lock only for its owner. Returns 1 when renewed, 0 when the lock
-- is gone or held by another token.
-- KEYS[1] the lock; ARGV[1] the owner's token, ARGV[2] new TTL in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
