-- The sum of a hash's integer values (0 for a missing hash), summed in
-- Redis so the values never cross the network.
-- KEYS[1] the hash
local total = 0
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  total = total + (tonumber(value) or 0)
end
return string.format('%.0f', total)
