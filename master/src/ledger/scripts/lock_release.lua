-- Deletes a lock only for its owner (compare and delete). Returns 1 when
-- released, 0 when the lock is gone or held by another token.
-- KEYS[1] the lock; ARGV[1] the owner's token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
