#!/usr/bin/env node
// Runs a TensorFlow.js graph model on TensorFlow.js's pure-JavaScript CPU backend and writes its outputs and
// every intermediate node value as .npy files, so LayerLens can be checked against TensorFlow.js node by node.
//
// Usage (after `npm ci` in this folder):
//   node run.js --model DIR/model.json --input NAME=FILE.npy [--input ...] --out OUTDIR [--outputs-only]
// Writes OUTDIR/manifest.json: {"values": [{"name", "file", "dtype", "shape"}], "outputs": [...], "tfjs": version}
// and OUTDIR/vNNNN.npy per value. Value names follow TensorFlow: "node" is output 0, "node:k" output k.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

function parseArgs(argv) {
  const args = { inputs: {}, outputsOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--model') args.model = argv[++i];
    else if (a === '--out') args.out = argv[++i];
    else if (a === '--input') {
      const [name, file] = argv[++i].split(/=(.*)/s);
      args.inputs[name] = file;
    } else if (a === '--outputs-only') args.outputsOnly = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.model || !args.out) throw new Error('need --model and --out');
  return args;
}

const NPY_TYPES = { '<f4': ['float32', Float32Array], '<i4': ['int32', Int32Array], '|b1': ['bool', Uint8Array], '|u1': ['uint8', Uint8Array] };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const t = NPY_TYPES[descr];
  if (!t) throw new Error(`${file}: dtype ${descr} not supported`);
  const dataStart = start + headerLen;
  const bytes = buf.subarray(dataStart);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const values = new t[1](copy.buffer, 0, copy.length / t[1].BYTES_PER_ELEMENT);
  return tf.tensor(t[0] === 'bool' ? Array.from(values, v => v !== 0) : values, shape, t[0] === 'uint8' ? 'int32' : t[0]);
}

function writeNpy(file, dtype, shape, data) {
  const descr = dtype === 'float32' ? '<f4' : dtype === 'int32' ? '<i4' : '|b1';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  // Some CPU kernels hand back a typed array of another width than the tensor's dtype (a cast bool stays Uint8).
  let typed = data;
  if (dtype === 'bool') typed = Uint8Array.from(data, v => (v ? 1 : 0));
  else if (dtype === 'float32' && !(data instanceof Float32Array)) typed = Float32Array.from(data);
  else if (dtype === 'int32' && !(data instanceof Int32Array)) typed = Int32Array.from(data);
  const body = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

function outputCount(node) {
  const attr = node.attr || {};
  if (node.op === 'Split' || node.op === 'SplitV') return Number(attr.num_split.i);
  if (node.op === 'Unpack') return Number(attr.num.i);
  if (node.op === 'TopKV2') return 2;
  return 1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  await tf.setBackend('cpu');
  const json = JSON.parse(fs.readFileSync(args.model, 'utf8'));
  const dir = path.dirname(args.model);
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: specs, weightData,
    format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature,
  }));

  const feeds = {};
  for (const [name, file] of Object.entries(args.inputs)) feeds[name] = readNpy(file);

  const outputs = model.outputs.map(o => o.name.replace(/:0$/, ''));
  let names = outputs.slice();
  if (!args.outputsOnly) {
    names = [];
    for (const node of json.modelTopology.node) {
      if (node.op === 'Const' || node.op === 'Placeholder') continue;
      const n = outputCount(node);
      for (let k = 0; k < n; k++) names.push(k === 0 ? node.name : `${node.name}:${k}`);
    }
  }
  const results = await model.executeAsync(feeds, names);
  const list = Array.isArray(results) ? results : [results];
  fs.mkdirSync(args.out, { recursive: true });
  const values = [];
  for (let i = 0; i < names.length; i++) {
    const t = list[i];
    const file = `v${String(i).padStart(4, '0')}.npy`;
    writeNpy(path.join(args.out, file), t.dtype, t.shape, t.dataSync());
    values.push({ name: names[i], file, dtype: t.dtype, shape: t.shape });
    t.dispose();
  }
  const manifest = { tfjs: tf.version.tfjs, backend: tf.getBackend(), outputs, values };
  const tmp = path.join(args.out, 'manifest.json.tmp');
  fs.writeFileSync(tmp, JSON.stringify(manifest, null, 1));
  fs.renameSync(tmp, path.join(args.out, 'manifest.json'));
}

main().catch(e => { console.error(`tfjs-reference: ${e.message}`); process.exit(1); });
