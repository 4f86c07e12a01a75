// Runtime-neutral golden-text check (plain JavaScript, no imports): runs inside Deno, Bun,
// Chromium and Node, and compares Worker responses. `golden` is build/runtimes/data/golden.json
// written by prepare.ts: the tiny golden-text cases in their encode form, the float64 reference
// embedding per case, token counts and thresholds.

export function cosine(a, b) {
  if (a.length !== b.length) throw new Error(`cosine: lengths ${a.length} and ${b.length} differ`);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

/**
 * A digest of the embeddings' float32 bits, in order (FNV-1a, 64 bits as two 32-bit lanes): equal
 * digests from two runtimes mean bit-identical vectors. JSON numbers from a server are float32
 * values written as doubles, so Math.fround gives back their exact bits.
 */
export function digest(embeddings) {
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (const e of embeddings) {
    for (let i = 0; i < e.length; i++) {
      f[0] = e[i];
      a = Math.imul(a ^ u[0], 0x01000193) >>> 0;
      b = Math.imul(b ^ ((u[0] >>> 16) | (u[0] << 16)), 0x01000193) >>> 0;
    }
    a = Math.imul(a ^ e.length, 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** Compares embeddings of golden.inputs with the reference: { dtype, cases, inputs, minCosine, failures, digest }. */
export function compareGolden(golden, dtype, embeddings, tokens, truncated) {
  const threshold = golden.thresholds[dtype];
  const failures = [];
  const seen = new Set();
  let minCosine = Infinity;
  if (embeddings.length !== golden.inputs.length) {
    failures.push(`${embeddings.length} embeddings for ${golden.inputs.length} inputs`);
  }
  for (let k = 0; k < Math.min(embeddings.length, golden.inputs.length); k++) {
    const j = golden.caseOf[k];
    if (tokens && tokens[k] !== golden.tokens[j]) failures.push(`input ${k} (case ${j}): ${tokens[k]} tokens, expected ${golden.tokens[j]}`);
    // The reference cuts inputs to max_seq_length (512) tokens: only those may report a cut.
    if (truncated && !(truncated[k] === 0 || (truncated[k] > 0 && golden.tokens[j] === golden.maxSeqLength))) {
      failures.push(`input ${k} (case ${j}): ${truncated[k]} tokens truncated, but the reference has ${golden.tokens[j]} tokens`);
    }
    const c = cosine(embeddings[k], golden.expected[j]);
    if (!(c >= threshold)) failures.push(`input ${k} (case ${j}, ${golden.modes[j]}): cosine ${c} < ${threshold}`);
    minCosine = Math.min(minCosine, c);
    seen.add(j);
  }
  if (seen.size !== golden.expected.length) failures.push(`${seen.size} of ${golden.expected.length} cases embedded`);
  return { dtype, cases: seen.size, inputs: embeddings.length, minCosine, failures, digest: digest(embeddings) };
}

/**
 * Loads `weights` with the package's createInstructor (its default options: the default kernels
 * build), embeds every golden input, compares; `kernels` is the build that ran.
 */
export async function checkGolden(createInstructor, golden, dtype, weights) {
  const model = await createInstructor(weights);
  try {
    if (model.info.dtype !== dtype) throw new Error(`loaded a ${model.info.dtype} model, expected ${dtype}`);
    const r = await model.embed(golden.inputs, { batchSize: 8 });
    return { ...compareGolden(golden, dtype, r.embeddings.map((e) => Array.from(e)), r.tokens, r.truncated), kernels: model.info.kernels };
  } finally {
    model.dispose();
  }
}
