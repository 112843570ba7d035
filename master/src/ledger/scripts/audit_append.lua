-- Appends one entry to the admin audit log and keeps only the newest ones.
-- KEYS[1] the audit list; ARGV[1] the entry (JSON); ARGV[2] entries kept
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return redis.call('LLEN', KEYS[1])
