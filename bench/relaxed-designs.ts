// The two int8 designs of issue 16 for the relaxed build, measured for fidelity on the golden set
// (base and large; min cosine over the 14 sequences against the float64 reference):
//   A  7-bit weights (the int8 file's codes requantized, offset into [0, 127]) x int8 activations
//      per row, the offset corrected by 64 x the row's sum (what gemm_q7 computes);
//   B  int8 weights x 7-bit unsigned activations per row with a zero point, corrected by per-row
//      weight sums;
//   U  (issue 25, XNNPACK's wasmusdot operand form) int8 weights as the relaxed dot's first
//      operand x int8 activations per row XOR 0x80 (= x + 128, unsigned) as its second, corrected
//      by 128 x the weight row's sum: exact where the dot is vpdpbusd (AVX-VNNI), so its numbers
//      are int8 weights x int8 activations (A's activations, the weights not requantized);
// each without and with the 32 int16 channels that model.ts carries beside the int8 codes (the
// same calibration input and channel rule: calibrationIds, chooseOutlierChannels). Both designs'
// integer arithmetic is exact, so each is emulated through kernels.wasm's exact int16 gemm_q8:
// the activations are quantized the design's way and handed over as their exact dequantized
// values (their int16 re-quantization errs far below the design's own rounding), the weights
// requantized as A does.
// Only the encoder matrices with K >= 256 take the design (the Dense head stays int16), as shipped.
// With the relaxed build available (Node >= 22), its real golden run is printed beside them.
//
//   node dist/bench/relaxed-designs.js [configs, default base,large]
// Writes bench/results/relaxed-designs.{json,md}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { calibrationIds, chooseOutlierChannels } from '../src/engine/relaxed.js';
import { relaxedSimdStatus, type KernelExports } from '../src/engine/wasm.js';
import { synthModel } from '../src/format/synth.js';
import { encodeWeightsFile } from '../src/format/weights-file.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { cosine, readGz, runGolden, type GoldenModelFile } from '../test/support/golden.js';
import { roundHalfEven } from '../test/support/random.js';

type Design = 'A' | 'B' | 'U';
const F = Math.fround;
const configs = (process.argv[2] ?? 'base,large').split(',');
const golden = readGz<GoldenModelFile>('golden-model.json.gz');

/** Which matmul input a quantize_rows_i16 call is, by call order within one forward pass + head. */
function siteOf(i: number, L: number): 'qkv' | 'o' | 'wi' | 'wo' | 'dense' {
  const per = 4 * L + 1, j = i % per;
  return j === 4 * L ? 'dense' : (['qkv', 'o', 'wi', 'wo'] as const)[j % 4];
}

/** kernels.wasm with quantize_rows_i16 (and, for A, pack_q8) replaced by the design's arithmetic. */
function emulate(k: KernelExports, design: Design, L: number, state: { channels: number[] | null; ratio: Float64Array | null }): KernelExports {
  let calls = 0, packs = 0;
  const w: KernelExports = { ...k };
  w.quantize_rows_i16 = (x, xq, xs, T, K) => {
    const site = siteOf(calls++, L);
    if (site === 'dense' || K < 256) return k.quantize_rows_i16(x, xq, xs, T, K);
    const X = new Float32Array(k.memory.buffer, x, T * K);
    if (state.ratio && (site === 'qkv' || site === 'wi')) {
      // calibration: per-channel max |x| over the rows / its median, as model.ts records it
      const cm = new Float64Array(K);
      for (let t = 0; t < T; t++) for (let d = 0; d < K; d++) cm[d] = Math.max(cm[d], Math.abs(X[t * K + d]));
      const median = Float64Array.from(cm).sort()[K >> 1];
      for (let d = 0; d < K; d++) state.ratio[d] = Math.max(state.ratio[d], median > 0 ? cm[d] / median : 0);
    }
    const wide = new Uint8Array(K);
    if (state.channels && (site === 'qkv' || site === 'wi')) for (const c of state.channels) wide[c] = 1;
    for (let t = 0; t < T; t++) {
      const row = X.subarray(t * K, t * K + K);
      let hi = 0, lo = 0;
      for (let d = 0; d < K; d++) if (!wide[d]) { hi = Math.max(hi, row[d]); lo = Math.max(lo, -row[d]); }
      if (design === 'A' || design === 'U') {
        const m = Math.max(hi, lo), inv = m === 0 ? 0 : F(127 / m), s = m === 0 ? 0 : F(m / 127);
        for (let d = 0; d < K; d++) if (!wide[d]) row[d] = s * Math.min(127, Math.max(-127, roundHalfEven(F(row[d] * inv))));
      } else {
        const r = F(hi + lo), inv = r === 0 ? 0 : F(127 / r), s = r === 0 ? 0 : F(r / 127);
        const z = Math.min(127, Math.max(0, roundHalfEven(F(lo * inv))));
        for (let d = 0; d < K; d++) if (!wide[d]) row[d] = s * (Math.min(127, Math.max(0, roundHalfEven(F(row[d] * inv)) + z)) - z);
      }
    }
    return k.quantize_rows_i16(x, xq, xs, T, K);
  };
  if (design === 'A') {
    w.pack_q8 = (W, N, K, scratch) => {
      // encoder matrices come first (6 per relu layer: q, k, v, o, wi, wo), then the Dense head
      if (packs++ < 6 * L && K >= 256) {
        const q = new Int8Array(k.memory.buffer, W, N * K), s = new Float32Array(k.memory.buffer, W + Math.ceil(N * K / 64) * 64, N);
        for (let i = 0; i < N * K; i++) q[i] = roundHalfEven(F(q[i] * F(F(63) / F(127))));
        for (let n = 0; n < N; n++) s[n] = F(s[n] * F(F(127) / F(63)));
      }
      k.pack_q8(W, N, K, scratch);
    };
  }
  return w;
}

async function minCosine(config: string, design: Design, wide: boolean): Promise<{ min: number; channels: number }> {
  const c = SYNTH_CONFIGS[config];
  if (c.ffn !== 'relu') throw new Error(`${config}: the emulation counts relu layers' matmuls`);
  const bytes = encodeWeightsFile({ config: toHfConfig(c), model: { dense_out: c.denseOut, max_seq_length: 512, synth: 'synth-v1', name: config }, dtype: 'int8' }, synthModel(c, c.denseOut));
  const state: { channels: number[] | null; ratio: Float64Array | null } = { channels: null, ratio: null };
  const model = await InstructorModel.fromWeightsFile(bytes, { kernels: emulate(await loadKernelsFromDisk(), design, c.numLayers, state) });
  try {
    if (wide) {
      state.ratio = new Float64Array(c.dModel);
      model.embedIds([{ ids: calibrationIds(c.vocabSize), nInstr: 0 }]);
      state.channels = chooseOutlierChannels(state.ratio);
      state.ratio = null;
    }
    const ref = golden.configs[config].float64;
    let min = Infinity;
    golden.sequences.forEach((seq, j) => {
      const [e] = model.embedIds([{ ids: seq.ids, nInstr: seq.n_instr }]).embeddings;
      min = Math.min(min, cosine(e, ref[j].embedding));
    });
    return { min, channels: state.channels?.length ?? 0 };
  } finally {
    model.dispose();
  }
}

const rows: Array<{ config: string; design: string; minCosine: number; channels: number }> = [];
for (const config of configs) {
  for (const [design, wide] of [['A', false], ['B', false], ['U', false], ['A', true], ['B', true], ['U', true]] as const) {
    const r = await minCosine(config, design, wide);
    rows.push({ config, design: `${design}${wide ? ` + ${r.channels} int16 channels` : ''} (emulated)`, minCosine: r.min, channels: r.channels });
    console.log(`${config} design ${design}${wide ? ' + int16 channels' : ''}: min cosine ${r.min.toFixed(6)}`);
  }
  if (relaxedSimdStatus() === 'ok') {
    const r = await runGolden(golden, config, 'int8', { build: 'relaxed' });
    rows.push({ config, design: `relaxed build (A + ${r.outlierChannels} int16 channels, gemm_q7)`, minCosine: r.minCosine, channels: r.outlierChannels });
    console.log(`${config} relaxed build: min cosine ${r.minCosine.toFixed(6)}`);
  }
  const s = await runGolden(golden, config, 'int8', { build: 'simd128' });
  rows.push({ config, design: 'simd128 build (int16 activations)', minCosine: s.minCosine, channels: 0 });
}

const designs = [...new Set(rows.map((r) => r.design.replace(/\d+ int16/, 'N int16')))];
const md = [
  '# Relaxed-build int8 designs: golden fidelity', '',
  `${new Date().toISOString()} · Node ${process.version} · \`node dist/bench/relaxed-designs.js\``, '',
  '| design | ' + configs.join(' | ') + ' |', '| --- |' + configs.map(() => ' --- |').join(''),
  ...designs.map((d) => `| ${d} | ${configs.map((c) => {
    const r = rows.find((x) => x.config === c && x.design.replace(/\d+ int16/, 'N int16') === d);
    return r ? `${r.minCosine.toFixed(6)}${r.channels ? ` (N = ${r.channels})` : ''}` : '-';
  }).join(' | ')} |`),
  '',
];
const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('relaxed-designs.json', dir), JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
writeFileSync(new URL('relaxed-designs.md', dir), md.join('\n'));
console.log(md.join('\n'));
