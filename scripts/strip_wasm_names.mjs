// Drops the "name" custom section (function names) from the built wasm module.
//
// worker-build ends its wasm-opt command with `--debuginfo`, so the release module keeps every
// function's name: about 250 KB raw, 67 KB of the gzip size the Workers limit and the bench
// budget count. Nothing reads them at run time (wasm-bindgen's glue goes by exports and
// imports); they only name frames in a trap's stack trace, which this worker logs as one line
// without a stack (worker/entry.mjs). Run by `make build` after worker-build:
//
//   node scripts/strip_wasm_names.mjs build/index_bg.wasm
import fs from "node:fs";

const file = process.argv[2] ?? "build/index_bg.wasm";
const bytes = fs.readFileSync(file);
if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file} is not a wasm module`);

/** An unsigned LEB128 at `at`: [value, next offset]. */
function leb(at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at];
    shift += 7;
  }
}

const kept = [bytes.subarray(0, 8)];
let dropped = 0;
for (let at = 8; at < bytes.length; ) {
  const start = at;
  const id = bytes[at];
  const [size, body] = leb(at + 1);
  const end = body + size;
  let isName = false;
  if (id === 0) {
    const [len, nameAt] = leb(body);
    isName = bytes.subarray(nameAt, nameAt + len).toString("utf8") === "name";
  }
  if (isName) dropped += end - start;
  else kept.push(bytes.subarray(start, end));
  at = end;
}
if (dropped > 0) fs.writeFileSync(file, Buffer.concat(kept));
console.log(`${file}: ${dropped > 0 ? `dropped the name section (${dropped} bytes)` : "no name section"}`);
