-- wrk script for every scenario: no per-request hook (so wrk stays on its fast static-request
-- path); at the end it prints the exact latency histogram, so that bench/run.mjs can merge
-- rounds of one scenario and compute their percentiles exactly.
function done(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("BENCH-HIST ", table.concat(parts, ","), "\n")
end
