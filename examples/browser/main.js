// Embeds a query and a few texts in the page (WebAssembly SIMD, no server) and ranks the texts
// by cosine similarity. Weights: `?weights=<url>` (default ./model.iwt next to this page), a
// weights file with its tokenizer (`instructor-wasm convert` or `synth`), fetched once and then
// answered from the Cache API.
import { createInstructor, fetchWeightsResponse, topK } from 'instructor-wasm';

const $ = (id) => document.getElementById(id);
const form = $('form');
const status = $('status');
const weightsUrl = new URL(new URLSearchParams(location.search).get('weights') ?? 'model.iwt', location.href);

let model;
try {
  const t0 = performance.now();
  // A Response streams straight into wasm memory; the kernels come from the package (loadKernels).
  model = await createInstructor(fetchWeightsResponse(weightsUrl));
  status.textContent = `ready: ${model.info.dtype} model, ${model.dim}-dim embeddings, loaded in ${Math.round(performance.now() - t0)} ms`;
  status.dataset.state = 'ready';
  // synth-v1 weights (npm run demo, `instructor-wasm synth`) are untrained: say so where the ranking shows
  $('untrained').hidden = model.info.model.source?.kind !== 'synth';
  $('rank').disabled = false;
} catch (e) {
  status.textContent = `could not load ${weightsUrl}: ${e.message}`;
  status.dataset.state = 'error';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!model) return;
  $('rank').disabled = true;
  status.dataset.state = 'busy';
  try {
    const query = $('query').value;
    const docs = $('docs').value.split('\n').map((s) => s.trim()).filter((s) => s.length > 0);
    const t0 = performance.now();
    const q = await model.encodeOne([form.dataset.queryInstruction, query]);
    const d = await model.encode(docs, { instruction: form.dataset.docInstruction });
    const hits = topK(q, d, docs.length);
    $('ranking').replaceChildren(...hits.map(({ index, score }) => {
      const li = document.createElement('li');
      li.dataset.index = String(index);
      li.dataset.score = String(score);
      const s = document.createElement('span');
      s.className = 'score';
      s.textContent = score.toFixed(4);
      li.append(s, docs[index]);
      return li;
    }));
    status.textContent = `ranked ${docs.length} texts in ${Math.round(performance.now() - t0)} ms`;
    status.dataset.state = 'ranked';
  } catch (e) {
    status.textContent = `error: ${e.message}`;
    status.dataset.state = 'error';
  } finally {
    $('rank').disabled = false;
  }
});
