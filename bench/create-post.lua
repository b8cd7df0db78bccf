-- wrk script for the create-post scenario: POST /api/v1/posts with a fresh Idempotency-Key on
-- every request (run tag + thread number + counter, so no two requests share a key, across
-- threads, rounds and warm-up), and the latency histogram at the end (as bench/report.lua).
--   wrk ... -s bench/create-post.lua URL -- <token> <accountId> <runTag>
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  token, account, tag = args[1], args[2], args[3]
  counter = 0
  body = '{"content":"Benchmark post: fresh roast, new colours.","targets":[{"accountId":"' .. account .. '"}]}'
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = tag .. "-" .. tid .. "-" .. counter,
  }, body)
end

function done(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("BENCH-HIST ", table.concat(parts, ","), "\n")
end
