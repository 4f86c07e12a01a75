// Cosine similarity, top-k retrieval and k-means (src/text/similarity.ts) against float64 references.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InstructorError } from '../src/errors.js';
import { cosineSimilarity, cosineSimilarityMatrix, kmeans, topK, topKBatch } from '../src/text/similarity.js';
import { COSINE_MATRIX_TOL } from './support/tolerances.js';

/** Deterministic test data (mulberry32), independent of the library's PRNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const randomVectors = (n: number, d: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => gauss(r)));
};

/** Reference cosine: normalise each vector first (sklearn's way), then dot, all in float64. */
function refCosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  const na = n(a), nb = n(b);
  if (na === 0 || nb === 0) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] / na) * (b[i] / nb);
  return s;
}


function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InstructorError);
    assert.is((e as InstructorError).code, code, (e as Error).message);
    if (message) assert.match((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('cosineSimilarityMatrix matches a float64 reference (A vs B and A vs A)', () => {
  const A = randomVectors(7, 24, 1), B = randomVectors(5, 24, 2);
  const M = cosineSimilarityMatrix(A, B);
  assert.is(M.length, 7);
  for (let i = 0; i < 7; i++) {
    assert.instance(M[i], Float32Array);
    assert.is(M[i].length, 5);
    for (let j = 0; j < 5; j++) {
      const ref = refCosine(A[i], B[j]);
      assert.ok(Math.abs(M[i][j] - ref) <= COSINE_MATRIX_TOL, `[${i}][${j}] ${M[i][j]} vs ${ref}`);
      assert.is(M[i][j], Math.fround(cosineSimilarity(A[i], B[j])), 'matrix entry = float32 of cosineSimilarity');
    }
  }
  const S = cosineSimilarityMatrix(A);
  for (let i = 0; i < 7; i++) {
    assert.ok(Math.abs(S[i][i] - 1) <= COSINE_MATRIX_TOL, `diagonal ${S[i][i]}`);
    for (let j = 0; j < 7; j++) assert.is(S[i][j], S[j][i], 'symmetric');
  }
});

test('cosine: number[] inputs, scale invariance, zero vectors give 0, empty lists', () => {
  assert.ok(Math.abs(cosineSimilarity([1, 2, 3], [2, 4, 6]) - 1) < 1e-15);
  assert.ok(Math.abs(cosineSimilarity([1, 0], [0, 5])) < 1e-15);
  assert.is(cosineSimilarity([-1, 0], [3, 0]), -1);
  assert.is(cosineSimilarity([0, 0, 0], [1, 2, 3]), 0);
  assert.equal(cosineSimilarityMatrix([], [[1, 2]]), []);
  assert.equal(Array.from(cosineSimilarityMatrix([[1, 2]], [])[0]), []);
});

test('topK: descending, ties by index, k clamps to the corpus, equals a full sort', () => {
  const q = Float32Array.from([1, 0, 0]);
  const corpus = [[0, 1, 0], [1, 1, 0], [2, 2, 0], [1, 0, 0], [-1, 0, 0], [4, 4, 0], [4, 0, 0]]; // power-of-two scales: exact ties
  const r = topK(q, corpus, 10);
  assert.equal(r.map((x) => x.index), [3, 6, 1, 2, 5, 0, 4]); // 1, 1, then three equal 0.707 by index
  assert.equal(topK(q, corpus, 2).map((x) => x.index), [3, 6]);
  assert.equal(topK(q, corpus, 4).map((x) => x.index), [3, 6, 1, 2]);
  assert.equal(topK(q, [], 3), []);

  const C = randomVectors(200, 16, 3), Q = randomVectors(6, 16, 4);
  const batch = topKBatch(Q, C, 17);
  assert.is(batch.length, 6);
  for (let qi = 0; qi < Q.length; qi++) {
    const ref = C.map((c, index) => ({ index, score: refCosine(Q[qi], c) }))
      .sort((a, b) => b.score - a.score || a.index - b.index).slice(0, 17);
    const got = topK(Q[qi], C, 17);
    assert.equal(got, batch[qi], 'topKBatch = topK per query');
    assert.equal(got.map((x) => x.index), ref.map((x) => x.index));
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i].score - ref[i].score) < 1e-12);
      if (i > 0) assert.ok(got[i - 1].score >= got[i].score, 'descending');
    }
    const row = cosineSimilarityMatrix([Q[qi]], C)[0];
    for (const { index, score } of got) assert.is(Math.fround(score), row[index], 'score = matrix entry');
  }
});

/** Three well-separated Gaussian blobs in 8 dimensions, shuffled; returns points and true labels. */
function blobs(perCluster: number, seed: number) {
  const r = rng(seed);
  const centers = [new Array(8).fill(0), new Array(8).fill(0), new Array(8).fill(0)];
  centers[0][0] = 20; centers[1][1] = 20; centers[2][0] = -20;
  const pts: { x: Float32Array; y: number }[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < perCluster; i++) pts.push({ x: Float32Array.from(centers[c], (m) => m + gauss(r)), y: c });
  }
  for (let i = pts.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pts[i], pts[j]] = [pts[j], pts[i]];
  }
  return { X: pts.map((p) => p.x), y: pts.map((p) => p.y), centers };
}

function sqDist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

test('kmeans recovers well-separated clusters (up to a label permutation)', () => {
  const { X, y, centers } = blobs(40, 5);
  for (const seed of [0, 1, 2, 3, 42]) {
    const r = kmeans(X, 3, { seed });
    assert.instance(r.labels, Int32Array);
    assert.is(r.labels.length, X.length);
    assert.is(r.centroids.length, 3);
    assert.ok(r.iterations >= 1 && r.iterations <= 300);
    // A bijection from true clusters to found labels.
    const map = new Map<number, number>();
    for (let i = 0; i < X.length; i++) {
      if (!map.has(y[i])) map.set(y[i], r.labels[i]);
      assert.is(r.labels[i], map.get(y[i]), `seed ${seed}: point ${i}`);
    }
    assert.is(new Set(map.values()).size, 3);
    for (const [c, l] of map) assert.ok(sqDist(r.centroids[l], centers[c]) < 1, 'centroid near its blob center');
    // Labels are the nearest returned centroid; inertia is their squared distances.
    let inertia = 0;
    for (let i = 0; i < X.length; i++) {
      const d = r.centroids.map((c) => sqDist(X[i], c));
      assert.is(r.labels[i], d.indexOf(Math.min(...d)));
      inertia += d[r.labels[i]];
    }
    assert.ok(Math.abs(inertia - r.inertia) <= 1e-9 * inertia);
  }
});

test('kmeans is reproducible with a seed; k = 1 gives the mean; k = n gives inertia 0', () => {
  const X = randomVectors(60, 5, 9);
  const a = kmeans(X, 4, { seed: 7 }), b = kmeans(X, 4, { seed: 7 });
  assert.equal(Array.from(a.labels), Array.from(b.labels));
  assert.equal(a.centroids.map((c) => Array.from(c)), b.centroids.map((c) => Array.from(c)));
  assert.is(a.inertia, b.inertia);
  assert.equal(kmeans(X, 4).centroids, kmeans(X, 4, { seed: 0 }).centroids, 'default seed is 0');

  const one = kmeans(X, 1);
  for (let j = 0; j < 5; j++) {
    const mean = X.reduce((s, x) => s + x[j], 0) / X.length;
    assert.ok(Math.abs(one.centroids[0][j] - mean) < 1e-6);
  }
  assert.ok(Array.from(one.labels).every((l) => l === 0));
  const all = kmeans(X.slice(0, 6), 6);
  assert.is(all.inertia, 0);
  assert.is(new Set(all.labels).size, 6);
  // Duplicate points (k-means++ can draw a centroid twice, clusters can empty): still valid.
  const dup = kmeans([[0, 0], [0, 0], [0, 0], [1, 1], [1, 1]], 3, { seed: 3 });
  assert.ok(Array.from(dup.labels).every((l) => l >= 0 && l < 3));
  assert.ok(dup.inertia < 1e-12);
  assert.is(kmeans(X, 3, { maxIterations: 1 }).iterations, 1);
});

test('bad inputs -> BAD_INPUT', () => {
  throwsCode(() => cosineSimilarity([1, 2], [1, 2, 3]), 'BAD_INPUT', /3 dimensions, expected 2/);
  throwsCode(() => cosineSimilarity([1, NaN], [1, 2]), 'BAD_INPUT', /element 1 is NaN/);
  throwsCode(() => cosineSimilarity([1, 2], [Infinity, 2]), 'BAD_INPUT', /Infinity/);
  throwsCode(() => cosineSimilarity([], []), 'BAD_INPUT', /empty/);
  throwsCode(() => cosineSimilarity(null as never, [1]), 'BAD_INPUT');
  throwsCode(() => cosineSimilarity(['1', 2] as never, [1, 2]), 'BAD_INPUT', /element 0 is string/);
  throwsCode(() => cosineSimilarityMatrix([[1, 2], [1, 2, 3]]), 'BAD_INPUT', /A\[1\]/);
  throwsCode(() => cosineSimilarityMatrix([[1, 2]], [[1, 2], [3, NaN]]), 'BAD_INPUT', /B\[1\]: element 1/);
  throwsCode(() => cosineSimilarityMatrix('ab' as never), 'BAD_INPUT');
  throwsCode(() => topK([1, 2], [[1, 2]], 0), 'BAD_INPUT', /k must be a positive integer, got 0/);
  throwsCode(() => topK([1, 2], [[1, 2]], 1.5), 'BAD_INPUT');
  throwsCode(() => topK([1, 2], [[1, 2], [1]], 1), 'BAD_INPUT', /corpus\[1\]/);
  throwsCode(() => topK([1, NaN], [[1, 2]], 1), 'BAD_INPUT', /query/);
  throwsCode(() => topKBatch([[1, 2], [1, 2, 3]], [[1, 2]], 1), 'BAD_INPUT', /queries\[1\]/);
  const X = [[0, 0], [1, 1], [2, 2]];
  throwsCode(() => kmeans(X, 0), 'BAD_INPUT', /1\.\.3/);
  throwsCode(() => kmeans(X, 4), 'BAD_INPUT', /1\.\.3/);
  throwsCode(() => kmeans(X, 2.5), 'BAD_INPUT');
  throwsCode(() => kmeans([], 1), 'BAD_INPUT', /empty/);
  throwsCode(() => kmeans([[0, 0], [1]], 1), 'BAD_INPUT', /vectors\[1\]/);
  throwsCode(() => kmeans([[0, 0], [1, -Infinity]], 1), 'BAD_INPUT', /-Infinity/);
  throwsCode(() => kmeans(X, 2, { maxIterations: 0 }), 'BAD_INPUT', /maxIterations/);
  throwsCode(() => kmeans(X, 2, { seed: 0.5 }), 'BAD_INPUT', /seed/);
  throwsCode(() => kmeans(X, 2, { tolerance: -1 }), 'BAD_INPUT', /tolerance/);
});

test.run();
