// The Lua scripts the backend runs. A script runs atomically on the server, so the owner check and
// the writes it guards cannot be separated by another client's claim. Scripts address only keys of
// one hash tag (one task's store), which keeps them valid on a cluster slot.
import { createHash } from 'node:crypto'

export interface Script {
  readonly lua: string
  readonly sha: string
  readonly keys: number
}

function script(keys: number, lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), keys }
}

/**
 * Claims a task's store for an owner. KEYS: meta. ARGV: memberEpoch, memberId, taskId, now (ms).
 * Refuses when the stored owner has a larger epoch; an equal or smaller one is replaced.
 * Returns {claimed (1 or 0), stored epoch, stored member id, stored task id} (the previous owner).
 */
export const claimScript = script(
  1,
  `
local owner = redis.call('HMGET', KEYS[1], 'owner:memberEpoch', 'owner:memberId', 'owner:taskId')
if owner[1] and tonumber(owner[1]) > tonumber(ARGV[1]) then
  return {0, owner[1], owner[2] or '', owner[3] or ''}
end
redis.call('HSET', KEYS[1], 'owner:memberEpoch', ARGV[1], 'owner:memberId', ARGV[2], 'owner:taskId', ARGV[3], 'owner:claimedAt', ARGV[4])
return {1, owner[1] or '', owner[2] or '', owner[3] or ''}
`,
)

/**
 * Applies buffered writes, and fields of the meta hash (the commit point), if `meta` still names
 * this owner. KEYS: meta, data, index, stage puts, stage deletes.
 * ARGV: memberEpoch, memberId, staged ('1': the writes are in the stage keys), number of puts,
 *       number of meta fields, then the meta fields as field, value pairs, then the puts as key,
 *       value pairs, then the keys to delete.
 * Returns {1} when applied, {0, stored epoch, stored member id, stored task id} when fenced.
 */
export const applyScript = script(
  5,
  `
local meta, data, index = KEYS[1], KEYS[2], KEYS[3]
local owner = redis.call('HMGET', meta, 'owner:memberEpoch', 'owner:memberId', 'owner:taskId')
if owner[1] ~= ARGV[1] or owner[2] ~= ARGV[2] then
  if ARGV[3] == '1' then redis.call('DEL', KEYS[4], KEYS[5]) end
  return {0, owner[1] or '', owner[2] or '', owner[3] or ''}
end
local chunk = 500
local function put(list, first, last)
  for start = first, last, chunk * 2 do
    local stop = math.min(start + chunk * 2 - 1, last)
    redis.call('HSET', data, unpack(list, start, stop))
    local members = {}
    for position = start, stop, 2 do
      members[#members + 1] = 0
      members[#members + 1] = list[position]
    end
    redis.call('ZADD', index, unpack(members))
  end
end
local function delete(list, first, last)
  for start = first, last, chunk do
    local stop = math.min(start + chunk - 1, last)
    redis.call('HDEL', data, unpack(list, start, stop))
    redis.call('ZREM', index, unpack(list, start, stop))
  end
end
local metaEnd = 5 + 2 * tonumber(ARGV[5])
if ARGV[3] == '1' then
  local puts = redis.call('HGETALL', KEYS[4])
  put(puts, 1, #puts)
  local deletes = redis.call('SMEMBERS', KEYS[5])
  delete(deletes, 1, #deletes)
  redis.call('DEL', KEYS[4], KEYS[5])
else
  local putEnd = metaEnd + 2 * tonumber(ARGV[4])
  put(ARGV, metaEnd + 1, putEnd)
  delete(ARGV, putEnd + 1, #ARGV)
end
if metaEnd > 5 then redis.call('HSET', meta, unpack(ARGV, 6, metaEnd)) end
return {1}
`,
)

/**
 * One page of a scan, keys with their values read in the same atomic step.
 * KEYS: index, data. ARGV: lex min, lex max (ZRANGEBYLEX syntax), page keys, reverse ('1'),
 * value byte budget (the page ends once its values passed it; it holds at least one entry).
 * Returns {key, value, key, value, …}; a key whose value is missing (never the case while the
 * scripts keep data and index together) has false as its value.
 */
export const rangeScript = script(
  2,
  `
local members
if ARGV[4] == '1' then
  members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
else
  members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
end
if #members == 0 then return {} end
local values = redis.call('HMGET', KEYS[2], unpack(members))
local budget = tonumber(ARGV[5])
local result = {}
local bytes = 0
for position = 1, #members do
  result[#result + 1] = members[position]
  result[#result + 1] = values[position]
  if values[position] then bytes = bytes + #values[position] end
  if bytes >= budget then break end
end
return result
`,
)

/**
 * The number of keys once buffered writes are applied. KEYS: data. ARGV: number of puts, the keys
 * put, then the keys deleted. Returns {HLEN, change}: +1 per put of a missing key, -1 per delete
 * of a present one.
 */
export const countScript = script(
  1,
  `
local putCount = tonumber(ARGV[1])
local change = 0
for position = 2, #ARGV do
  local present = redis.call('HEXISTS', KEYS[1], ARGV[position]) == 1
  if position <= putCount + 1 then
    if not present then change = change + 1 end
  elseif present then
    change = change - 1
  end
end
return {redis.call('HLEN', KEYS[1]), change}
`,
)
