-- One page of the PPLNS share log, newest second first, with each second's
-- summed weight: {second, total, second, total, ...}. Read-only.
-- KEYS[1] share-log index, KEYS[2] share-log totals
-- ARGV[1] first rank, ARGV[2] last rank (inclusive), counted from the newest
local seconds = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])
if #seconds == 0 then
  return {}
end
local totals = redis.call('HMGET', KEYS[2], unpack(seconds))
local page = {}
for i, second in ipairs(seconds) do
  page[#page + 1] = second
  page[#page + 1] = totals[i] or '0'
end
return page
