// streamWeightsReader: a weights file read once, front to back, as Workers and browsers get it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SYNTH_CONFIGS, toHfConfig } from '../src/engine/config.js';
import { streamWeightsReader } from '../src/io/fetch-weights.js';
import { InstructorModel } from '../src/format/model-loading.js';
import { loadKernelsFromDisk } from '../src/io/disk.js';
import { synthModel } from '../src/format/synth.js';
import { encodeWeightsFile, parseWeightsHeader } from '../src/format/weights-file.js';
import { rejects } from './support/assert.js';
import { tokenSequence } from './support/random.js';

// 25 MB: the loader reads its data section in three 8 MiB windows, so the stream is read across
// several readInto calls (a one-window file would not show a reader that forgets where it is)
const c = { ...SYNTH_CONFIGS.tiny, dModel: 64, dFf: 16384 };
const FILE = encodeWeightsFile({ config: toHfConfig(c), model: { dense_out: c.denseOut }, dtype: 'fp32' }, synthModel(c, c.denseOut));

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (at >= bytes.length) return ctl.close();
      ctl.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

test('a streamed weights file loads as the same bytes in memory, whatever the chunk sizes', async () => {
  assert.ok(FILE.length > 2 * (8 << 20), `${FILE.length} bytes: at least three read windows`);
  const kernels = await loadKernelsFromDisk();
  const seqs = [5, 40, 130].map((T, i) => ({ ids: tokenSequence(T, 7 + i), nInstr: 2 }));
  const whole = await InstructorModel.fromWeightsFile(FILE, { kernels });
  const want = whole.embedIds(seqs).embeddings;
  whole.dispose();
  // 65521: chunks straddle the header end and every window edge; FILE.length: one chunk, so the
  // first readInto leaves most of the file in the reader's header buffer
  for (const chunk of [65521, 1 << 20, FILE.length]) {
    const model = await InstructorModel.fromWeightsReader(streamWeightsReader(streamOf(FILE, chunk), FILE.length), { kernels });
    const got = model.embedIds(seqs).embeddings;
    for (let i = 0; i < seqs.length; i++) assert.equal(Array.from(got[i]), Array.from(want[i]), `chunks of ${chunk}: sequence ${i}`);
    model.dispose();
  }
});

test('a stream reader asked for bytes it has passed says so (BAD_INPUT), and a short stream is BAD_FILE', async () => {
  const { dataStart } = parseWeightsHeader(FILE);
  const reader = streamWeightsReader(streamOf(FILE, 4096), FILE.length);
  await reader.read(0, dataStart);
  await reader.readInto(dataStart + 1000, new Uint8Array(100));
  await rejects(reader.readInto(dataStart, new Uint8Array(10)), 'BAD_INPUT', /reads forward only/);
  const short = streamWeightsReader(streamOf(FILE.subarray(0, FILE.length - 10), 4096), FILE.length);
  await rejects(InstructorModel.fromWeightsReader(short, { kernels: await loadKernelsFromDisk() }), 'BAD_FILE', /ended at byte/);
});

test.run();
