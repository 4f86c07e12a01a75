/**
 * What the INSTRUCTOR model card does with embeddings, in plain JavaScript (runtime-neutral):
 * cosine similarity (sklearn's `cosine_similarity`), top-k retrieval, and k-means clustering
 * (sklearn's `KMeans` / `MiniBatchKMeans` with k-means++ initialisation).
 *
 * Vectors are any `ArrayLike<number>` (Float32Array from `Instructor.encode`, or number[]).
 * Arithmetic is in float64. Every function checks its inputs (equal dimensions, finite values,
 * k in range) and throws `InstructorError` `BAD_INPUT` naming the offending argument and index.
 *
 * Consistency rule: `cosineSimilarity(a, b)` and `topK` scores are float64; the entries of
 * `cosineSimilarityMatrix` are those same float64 values rounded to float32 (so
 * `Math.fround(topK(q, C, k)[0].score) === cosineSimilarityMatrix([q], C)[0][index]`).
 * The cosine of a zero vector with anything is 0 (as sklearn, which normalises with a zero-norm
 * guard); INSTRUCTOR returns zero vectors for inputs with an empty pooling window.
 */
import { fail, positiveInteger } from '../errors.js';
import { mulberry32 as prng } from '../engine/random.js';

export type Vec = ArrayLike<number>;

export interface ScoredIndex {
  /** Position in the corpus. */
  index: number;
  /** Cosine similarity to the query (float64). */
  score: number;
}

export interface KMeansOptions {
  /** Upper bound on Lloyd iterations (sklearn: max_iter). Default 300. */
  maxIterations?: number;
  /** Seed of the k-means++ initialisation: same seed, same result. Default 0. */
  seed?: number;
  /**
   * Convergence: stop when the squared shift of all centroids is at most `tolerance` times the
   * data's mean per-dimension variance (sklearn's `tol`), or when no label changes. Default 1e-4.
   */
  tolerance?: number;
}

export interface KMeansResult {
  /** Cluster of each vector: the index of its nearest centroid (ties: the lower index). */
  labels: Int32Array;
  centroids: Float32Array[];
  /** Lloyd iterations run. */
  iterations: number;
  /** Sum of squared Euclidean distances of the vectors to their centroids (sklearn's inertia_). */
  inertia: number;
}

// ---------------------------------------------------------------------------------------------
// Validation

function isVec(v: unknown): v is Vec {
  return (ArrayBuffer.isView(v) && !(v instanceof DataView)) || Array.isArray(v);
}

/** Checks a vector's type, length and finiteness; returns its length. */
function checkVec(v: unknown, what: string, dim?: number): number {
  if (!isVec(v)) fail('BAD_INPUT', `${what}: expected a Float32Array or an array of numbers, got ${v === null ? 'null' : typeof v}`);
  const n = v.length;
  if (n === 0) fail('BAD_INPUT', `${what}: is empty, expected at least one dimension`);
  if (dim !== undefined && n !== dim) fail('BAD_INPUT', `${what}: has ${n} dimensions, expected ${dim} (as the first vector)`);
  for (let i = 0; i < n; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      fail('BAD_INPUT', `${what}: element ${i} is ${typeof x === 'number' ? String(x) : typeof x}, expected a finite number`);
    }
  }
  return n;
}

/** Checks a list of vectors of one dimension (`dim` if given); returns that dimension (or `dim`). */
function checkList(list: unknown, what: string, dim?: number): number | undefined {
  if (!Array.isArray(list)) fail('BAD_INPUT', `${what}: expected an array of vectors, got ${list === null ? 'null' : typeof list}`);
  let d = dim;
  for (let i = 0; i < list.length; i++) d = checkVec(list[i], `${what}[${i}]`, d);
  return d;
}

function checkK(k: unknown, what: string, max: number): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > max) {
    fail('BAD_INPUT', `${what}: k is ${String(k)}, expected an integer in 1..${max}`);
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// Cosine similarity

function norm(v: Vec): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** The one formula used everywhere: dot / (|a| |b|), 0 if either norm is 0. */
function cos(a: Vec, b: Vec, na: number, nb: number): number {
  if (na === 0 || nb === 0) return 0;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot / (na * nb);
}

/** Cosine similarity of two vectors of one dimension (float64; 0 if either is a zero vector). */
export function cosineSimilarity(a: Vec, b: Vec): number {
  const d = checkVec(a, 'cosineSimilarity: a');
  checkVec(b, 'cosineSimilarity: b', d);
  return cos(a, b, norm(a), norm(b));
}

/**
 * `out[i][j]` = cosine of `A[i]` and `B[j]` (B defaults to A), as sklearn's
 * `cosine_similarity(A, B)` on the model card. Rows are Float32Arrays of length `B.length`.
 */
export function cosineSimilarityMatrix(A: Vec[], B?: Vec[]): Float32Array[] {
  const d = checkList(A, 'cosineSimilarityMatrix: A');
  const other = B ?? A;
  if (B !== undefined) checkList(B, 'cosineSimilarityMatrix: B', d);
  const na = A.map(norm);
  const nb = B === undefined ? na : other.map(norm);
  return A.map((a, i) => {
    const row = new Float32Array(other.length);
    for (let j = 0; j < other.length; j++) row[j] = cos(a, other[j], na[i], nb[j]);
    return row;
  });
}

/** True when (sa, ia) ranks before (sb, ib): higher score, then lower index. */
const before = (sa: number, ia: number, sb: number, ib: number) => sa > sb || (sa === sb && ia < ib);

/** The k best of `scores` (descending, ties by index), via a size-k heap whose root is the worst. */
function selectTop(scores: Float64Array, k: number): ScoredIndex[] {
  const heap: number[] = []; // indices; heap[0] is the worst kept
  const worse = (x: number, y: number) => before(scores[y], y, scores[x], x); // x ranks after y
  const siftDown = (pos: number) => {
    for (;;) {
      const l = 2 * pos + 1, r = l + 1;
      let m = pos;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === pos) return;
      [heap[pos], heap[m]] = [heap[m], heap[pos]];
      pos = m;
    }
  };
  for (let i = 0; i < scores.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let pos = heap.length - 1; pos > 0;) {
        const parent = (pos - 1) >> 1;
        if (!worse(heap[pos], heap[parent])) break;
        [heap[pos], heap[parent]] = [heap[parent], heap[pos]];
        pos = parent;
      }
    } else if (before(scores[i], i, scores[heap[0]], heap[0])) {
      heap[0] = i;
      siftDown(0);
    }
  }
  heap.sort((x, y) => (before(scores[x], x, scores[y], y) ? -1 : 1));
  return heap.map((index) => ({ index, score: scores[index] }));
}

function checkTopK(k: unknown, fn: string): number {
  return positiveInteger(k, `${fn}: k`);
}

/**
 * The `k` corpus vectors most similar (cosine) to `query`, best first; equal scores in corpus
 * order. `k` larger than the corpus returns the whole corpus ranked (as sentence-transformers'
 * `semantic_search`).
 */
export function topK(query: Vec, corpus: Vec[], k: number): ScoredIndex[] {
  return rank([query], corpus, k, 'topK')[0];
}

/** `topK` for several queries against one corpus (corpus norms computed once). */
export function topKBatch(queries: Vec[], corpus: Vec[], k: number): ScoredIndex[][] {
  return rank(queries, corpus, k, 'topKBatch');
}

function rank(queries: Vec[], corpus: Vec[], k: number, fn: 'topK' | 'topKBatch'): ScoredIndex[][] {
  checkTopK(k, fn);
  const d = fn === 'topK' ? checkVec(queries[0], 'topK: query') : checkList(queries, `${fn}: queries`);
  checkList(corpus, `${fn}: corpus`, d);
  const nc = corpus.map(norm);
  const kk = Math.min(k, corpus.length);
  return queries.map((q) => {
    const nq = norm(q);
    const scores = new Float64Array(corpus.length);
    for (let j = 0; j < corpus.length; j++) scores[j] = cos(q, corpus[j], nq, nc[j]);
    return kk === 0 ? [] : selectTop(scores, kk);
  });
}

// ---------------------------------------------------------------------------------------------
// k-means

function sqDist(x: Vec, c: Float64Array): number {
  let s = 0;
  for (let i = 0; i < c.length; i++) {
    const t = x[i] - c[i];
    s += t * t;
  }
  return s;
}

/** Index of the nearest centroid (ties: the lower index) and the squared distance to it. */
function nearest(x: Vec, centroids: Float64Array[]): [number, number] {
  let best = 0, bestD = Infinity;
  for (let c = 0; c < centroids.length; c++) {
    const d = sqDist(x, centroids[c]);
    if (d < bestD) { bestD = d; best = c; }
  }
  return [best, bestD];
}

/** Samples an index with probability proportional to `w` (all zero: uniform). */
function sample(w: Float64Array, total: number, rand: () => number): number {
  if (!(total > 0)) return Math.min(w.length - 1, Math.floor(rand() * w.length));
  let r = rand() * total;
  for (let i = 0; i < w.length; i++) {
    r -= w[i];
    if (r < 0) return i;
  }
  for (let i = w.length - 1; i >= 0; i--) if (w[i] > 0) return i; // rounding at the end
  return w.length - 1;
}

/** Greedy k-means++ (as sklearn: 2 + floor(ln k) candidates per step, keep the best). */
function kmeansPlusPlus(X: Vec[], k: number, rand: () => number): Float64Array[] {
  const n = X.length;
  const toF64 = (v: Vec) => Float64Array.from(v);
  const centroids = [toF64(X[Math.floor(rand() * n)])];
  const closest = new Float64Array(n);
  for (let i = 0; i < n; i++) closest[i] = sqDist(X[i], centroids[0]);
  let potential = closest.reduce((a, b) => a + b, 0);
  const trials = 2 + Math.floor(Math.log(k));
  const cand = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    let bestIdx = -1, bestPot = Infinity, bestDist: Float64Array | null = null;
    for (let t = 0; t < trials; t++) {
      const idx = sample(closest, potential, rand);
      const ci = toF64(X[idx]);
      let pot = 0;
      for (let i = 0; i < n; i++) {
        cand[i] = Math.min(closest[i], sqDist(X[i], ci));
        pot += cand[i];
      }
      if (pot < bestPot) { bestPot = pot; bestIdx = idx; bestDist = cand.slice(); }
    }
    centroids.push(toF64(X[bestIdx]));
    closest.set(bestDist!);
    potential = bestPot;
  }
  return centroids;
}

/**
 * Clusters `vectors` into `k` groups (Euclidean k-means, as sklearn's `KMeans` on the model card):
 * seeded greedy k-means++ initialisation, then Lloyd iterations; a cluster that becomes empty is
 * re-seeded with the vector farthest from its centroid. Reproducible: same inputs and seed, same
 * result. The returned labels are the nearest returned centroid of each vector.
 */
export function kmeans(vectors: Vec[], k: number, options: KMeansOptions = {}): KMeansResult {
  const d = checkList(vectors, 'kmeans: vectors');
  const n = vectors.length;
  if (n === 0 || d === undefined) fail('BAD_INPUT', 'kmeans: vectors is empty, expected at least one vector');
  checkK(k, 'kmeans', n);
  if (typeof options !== 'object' || options === null) fail('BAD_INPUT', `kmeans: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const { maxIterations = 300, seed = 0, tolerance = 1e-4 } = options;
  positiveInteger(maxIterations, 'kmeans: maxIterations');
  if (typeof seed !== 'number' || !Number.isInteger(seed)) fail('BAD_INPUT', `kmeans: seed is ${String(seed)}, expected an integer`);
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    fail('BAD_INPUT', `kmeans: tolerance is ${String(tolerance)}, expected a finite number >= 0`);
  }

  // sklearn's tol is relative to the data: tol * mean over dimensions of the variance.
  const mean = new Float64Array(d);
  for (const x of vectors) for (let j = 0; j < d; j++) mean[j] += x[j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  let variance = 0;
  for (const x of vectors) for (let j = 0; j < d; j++) variance += (x[j] - mean[j]) ** 2;
  const tol = tolerance * (variance / (n * d));

  const rand = prng(seed);
  let centroids = kmeansPlusPlus(vectors, k, rand);
  const labels = new Int32Array(n);
  const dist = new Float64Array(n);
  const assign = () => {
    for (let i = 0; i < n; i++) [labels[i], dist[i]] = nearest(vectors[i], centroids);
  };

  let iterations = 0;
  for (let it = 1; it <= maxIterations; it++) {
    assign();
    // Update: means of the clusters; an empty cluster takes the farthest vector not yet taken.
    const sums = Array.from({ length: k }, () => new Float64Array(d));
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      const s = sums[labels[i]];
      const x = vectors[i];
      for (let j = 0; j < d; j++) s[j] += x[j];
      counts[labels[i]]++;
    }
    const taken = new Set<number>();
    const next = sums.map((s, c) => {
      if (counts[c] > 0) {
        for (let j = 0; j < d; j++) s[j] /= counts[c];
        return s;
      }
      let far = -1;
      for (let i = 0; i < n; i++) if (!taken.has(i) && (far < 0 || dist[i] > dist[far])) far = i;
      taken.add(far);
      return Float64Array.from(vectors[far]);
    });
    let shift = 0;
    for (let c = 0; c < k; c++) shift += sqDist(next[c], centroids[c]);
    centroids = next;
    iterations = it;
    if (shift <= tol) break;
  }

  // Return float32 centroids, and labels / inertia computed against exactly those.
  const out = centroids.map((c) => Float32Array.from(c));
  centroids = out.map((c) => Float64Array.from(c));
  assign();
  let inertia = 0;
  for (let i = 0; i < n; i++) inertia += dist[i];
  return { labels, centroids: out, iterations, inertia };
}
