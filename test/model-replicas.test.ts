// Model replicas over one copy of the weights (LoadOptions.replicas, InstructorModel.attach): each
// replica's passes stay inside its region for every shape a pass of maxPassTokens can take (the
// region is sized by forwardBytesBound / headBytesBound; going past it is OUT_OF_MEMORY), attached
// replicas give the loading model's bits, and passes of two replicas interleaved change nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Pass } from '../src/engine/model.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { passOf } from '../src/engine/backend.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { KERNELS_MT_WASM_URL } from '../src/io/disk.js';
import { readFileSync } from 'node:fs';
import { sameBits, throwsCode } from './support/assert.js';
import { synthTextWeights } from './support/synth-text-model.js';

const weights = synthTextWeights('tiny', 'int8');
const kernels = await loadKernelsFromDisk();
const threadKernels = new Uint8Array(readFileSync(KERNELS_MT_WASM_URL));
const plain = await InstructorModel.fromWeightsFile(weights, { kernels });
const PASS = 1024;

/** `lengths` as a pass of pseudo-random ids (each sequence ending in </s>), nInstr cycling 0..3. */
function passOfLengths(lengths: number[], seed = 1): Pass {
  let s = seed;
  const vocab = plain.info.config.vocabSize;
  return passOf(lengths.map((T, b) => {
    const ids = Array.from({ length: T }, () => 2 + ((s = (s * 1103515245 + 12345) >>> 0) % (vocab - 2)));
    ids[T - 1] = 1;
    return { ids, nInstr: Math.min(b % 4, T) };
  }));
}

/** The shapes that need the most of a region: one long sequence, many distinct lengths, all of length 1. */
function worstShapes(S: number): number[][] {
  const distinct: number[] = [];
  for (let T = 1, sum = 0; sum + T <= S; sum += T, T++) distinct.push(T);
  const rest = S - distinct.reduce((a, b) => a + b, 0);
  if (rest > 0) distinct.push(rest);
  return [[S], distinct, new Array(S).fill(1), [512, 511, 1]];
}

test('every worst-case pass shape of maxPassTokens fits a replica region; the bits are those of a model loaded without replicas', async () => {
  const model = await InstructorModel.fromWeightsFile(weights, { kernels, threadKernels, replicas: { count: 2, maxPassTokens: PASS } });
  try {
    const share = model.share()!;
    assert.ok(share !== null);
    assert.is(share.regions.length, 2);
    assert.is(model.maxPassTokens, PASS);
    const other = await InstructorModel.attach(share, 1);
    for (const lengths of worstShapes(PASS)) {
      const pass = passOfLengths(lengths);
      const want = plain.embedPass(pass);
      sameBits(model.embedPass(pass), want, `replica 0, ${lengths.length} sequences`);
      sameBits(other.embedPass(pass), want, `replica 1, ${lengths.length} sequences`);
    }
    // a pass past the region's size is refused before it is computed, never written past the region
    throwsCode(() => model.embedPass(passOfLengths([PASS + 1])), 'BAD_INPUT', /more than the 1024 tokens a pass of this model replica holds/);
  } finally {
    model.dispose();
  }
});

test('maxPassTokens below max_seq_length is raised to it: one full-length input always fits', async () => {
  const model = await InstructorModel.fromWeightsFile(weights, { kernels, threadKernels, replicas: { count: 1, maxPassTokens: 16 } });
  try {
    assert.is(model.maxPassTokens, 512);
    sameBits(model.embedPass(passOfLengths([512])), plain.embedPass(passOfLengths([512])), 'a 512-token input');
  } finally {
    model.dispose();
  }
});

test('bad replica options: a BAD_INPUT naming them', async () => {
  for (const [replicas, msg] of [
    [{ count: 0, maxPassTokens: 512 }, /replicas\.count must be an integer in \[1, 256\], got 0/],
    [{ count: 2, maxPassTokens: 0 }, /replicas\.maxPassTokens must be an integer/],
  ] as const) {
    await InstructorModel.fromWeightsFile(weights, { kernels, threadKernels, replicas }).then(
      () => assert.unreachable('loaded'),
      (e: { code?: string; message: string }) => { assert.is(e.code, 'BAD_INPUT'); assert.match(e.message, msg); },
    );
  }
  await InstructorModel.fromWeightsFile(weights, { kernels, threadKernels, threads: 2, replicas: { count: 2, maxPassTokens: 512 } }).then(
    () => assert.unreachable('loaded'),
    (e: { code?: string; message: string }) => { assert.is(e.code, 'BAD_INPUT'); assert.match(e.message, /replicas run on one thread each/); },
  );
  const one = await InstructorModel.fromWeightsFile(weights, { kernels, threadKernels, replicas: { count: 1, maxPassTokens: 512 } });
  await InstructorModel.attach(one.share()!, 1).then(() => assert.unreachable('attached'), (e: { code?: string }) => assert.is(e.code, 'BAD_INPUT'));
  one.dispose();
});

test.after(() => plain.dispose());

test.run();
