// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime (onnxruntime-node) baseline for bench/infer.
//   node ort_bench.js MODULE_DIR MODEL.onnx --batch N --threads T --iterations K
//        [--warmup W] [--input X.npy --output OUT.bin]
// Prints one JSON line: {"median_ms":..,"p99_ms":..,"images_per_s":..}.
// With --input the .npy (float32, C order) is run once and the first
// output is written as raw little-endian float32 to OUT.bin.
'use strict';
const fs = require('fs');
const path = require('path');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
}

function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error('not an npy file');
  const major = b[6];
  const hl = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const hdr = b.toString('latin1', off, off + hl);
  if (!hdr.includes("'<f4'")) throw new Error('only float32 inputs');
  const shape = hdr.match(/\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + off + hl, b.byteOffset + b.length));
  return { shape, data };
}

async function main() {
  const ort = require(path.join(process.argv[2], 'node_modules', 'onnxruntime-node'));
  const model = process.argv[3];
  const threads = Number(arg('--threads', '2'));
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const inName = sess.inputNames[0];
  const input = arg('--input', null);
  if (input) {
    const x = readNpy(input);
    const out = await sess.run({ [inName]: new ort.Tensor('float32', x.data, x.shape) });
    const y = out[sess.outputNames[0]].data;
    fs.writeFileSync(arg('--output', 'out.bin'), Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    return;
  }
  const batch = Number(arg('--batch', '1'));
  const iters = Number(arg('--iterations', '20'));
  const warm = Number(arg('--warmup', '3'));
  const shape = [batch, 3, 224, 224];
  const dims = arg('--shape', null);
  if (dims) shape.splice(0, shape.length, batch, ...dims.split(',').map(Number));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 65536) / 65536;
  const feeds = { [inName]: new ort.Tensor('float32', data, shape) };
  const lat = [];
  for (let i = 0; i < warm + iters; i++) {
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    const t1 = process.hrtime.bigint();
    if (i >= warm) lat.push(Number(t1 - t0) / 1e6);
  }
  const sum = lat.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  const p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))];
  console.log(JSON.stringify({ median_ms: lat[Math.floor(lat.length / 2)], p99_ms: p99,
                               images_per_s: batch * iters / (sum / 1000) }));
}

main().catch((e) => { console.error('ort_bench: ' + e.message); process.exit(1); });
