-- wrk script for the MCP scenarios: every request the same POST with a JSON body (a JSON-RPC
-- message), built once per thread so wrk stays on its static-request path; the latency
-- histogram at the end, as bench/report.lua.
--   wrk ... -s bench/post-json.lua URL -- <token> <body>
function init(args)
  wrk.method = "POST"
  wrk.body = args[2]
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
end

function done(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("BENCH-HIST ", table.concat(parts, ","), "\n")
end
