// Hugging Face hub client, runtime-neutral part (Node, Deno, Bun, Workers, browsers): repo id
// parsing, resolve URLs, the metadata call, redirects with token stripping, retries and integrity
// checks, all over `fetch`. The filesystem cache lives in hub-node.ts.
//
// Behaviour follows huggingface_hub's `hf_hub_download` / `get_hf_file_metadata`:
//  - file URL `${endpoint}/${repo}/resolve/${quote(revision, safe='')}/${quote(path)}`;
//  - a HEAD with `Accept-Encoding: identity` that follows relative redirects only (renamed repos)
//    gives X-Repo-Commit, X-Linked-Etag / ETag, X-Linked-Size / Content-Length and, for LFS files,
//    the absolute Location of the CDN copy;
//  - the download goes to that Location; the token is sent only while the origin is the hub's.
import { describeValue, fail, InstructorError } from '../errors.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubProgress {
  /** The file's path inside the repo, e.g. `2_Dense/pytorch_model.bin`. */
  file: string;
  /** Bytes on hand (a resumed download starts at the size of the partial file). */
  loaded: number;
  total: number;
}

export interface HubOptions {
  /** Hub base URL; default `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Access token sent as `Authorization: Bearer`; default `HF_TOKEN` (Node also reads `$HF_HOME/token`). `false`: send none. */
  token?: string | false;
  /** No network: answer from the cache only. Default `HF_HUB_OFFLINE` (1 / ON / YES / TRUE). */
  offline?: boolean;
  /** Cache folder (Node); default `HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Branch, tag or 40-hex commit; default 'main'. May also be given as `org/name@revision`. */
  revision?: string;
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Environment variables to read (HF_*); default `process.env` where there is one. */
  env?: Record<string, string | undefined>;
  /** Retries of transient failures (5xx, 429, connection reset, stalls) per request; default 4. */
  retries?: number;
  /** First retry delay in ms, doubled each time (max 10 s); default 500. */
  retryDelayMs?: number;
  /** Timeout in ms for the metadata call and for a stalled download; default `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT` seconds or 10 s. */
  timeoutMs?: number;
}

export interface HubFileMetadata {
  /** The commit the revision resolved to (X-Repo-Commit). */
  commit: string;
  /** Normalized etag: sha256 of the content for LFS files, git blob sha1 for regular files. */
  etag: string;
  size: number;
  /** Where to download the bytes from: the CDN URL for LFS files, else the resolve URL. */
  location: string;
  /** The resolve URL that answered (after relative redirects). */
  url: string;
}

// ---------------------------------------------------------------- env

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

/** huggingface_hub's `_is_true`: 1 / ON / YES / TRUE, any case. */
export function envIsTrue(v: string | undefined): boolean {
  return v !== undefined && TRUE_VALUES.has(v.trim().toUpperCase());
}

function defaultEnv(): Record<string, string | undefined> {
  try {
    return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  } catch {
    return {};
  }
}

/** Reads one variable; empty counts as unset; a runtime that denies env access counts as unset. */
export function envGet(env: Record<string, string | undefined> | undefined, key: string): string | undefined {
  try {
    const v = (env ?? defaultEnv())[key];
    return v === undefined || v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

export function hubEndpoint(opts: HubOptions = {}): string {
  const e = opts.endpoint ?? envGet(opts.env, 'HF_ENDPOINT') ?? DEFAULT_ENDPOINT;
  let u: URL;
  try {
    u = new URL(e);
  } catch {
    fail('BAD_INPUT', `hub endpoint ${JSON.stringify(e)} is not a URL; expected e.g. https://huggingface.co`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') fail('BAD_INPUT', `hub endpoint ${e} must be http(s)`);
  return e.replace(/\/+$/, '');
}

export function hubOffline(opts: HubOptions = {}): boolean {
  return opts.offline ?? envIsTrue(envGet(opts.env, 'HF_HUB_OFFLINE'));
}

/** Token from the options or the environment (HF_TOKEN, then the legacy HUGGING_FACE_HUB_TOKEN). */
export function hubTokenFromEnv(opts: HubOptions = {}): string | undefined {
  if (opts.token === false) return undefined;
  if (typeof opts.token === 'string') return opts.token.trim() || undefined;
  if (envIsTrue(envGet(opts.env, 'HF_HUB_DISABLE_IMPLICIT_TOKEN'))) return undefined;
  return (envGet(opts.env, 'HF_TOKEN') ?? envGet(opts.env, 'HUGGING_FACE_HUB_TOKEN'))?.trim() || undefined;
}

function timeoutFor(opts: HubOptions, envKey: string): number {
  if (opts.timeoutMs !== undefined) return opts.timeoutMs;
  const s = Number(envGet(opts.env, envKey));
  return Number.isFinite(s) && s > 0 ? s * 1000 : 10_000;
}

// ---------------------------------------------------------------- repo ids, revisions, paths

export const COMMIT_RE = /^[0-9a-f]{40}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

export function isCommitHash(s: string): boolean {
  return COMMIT_RE.test(s);
}

/** Checks an `org/name` repo id (huggingface_hub's validate_repo_id rules, org required). */
export function validateRepo(repo: string): void {
  if (typeof repo !== 'string') fail('BAD_INPUT', `repo id must be a string, got ${typeof repo}`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(repo) || repo.startsWith('//')) {
    fail('BAD_INPUT', `repo id ${JSON.stringify(repo)} looks like a URL; expected "org/name", e.g. "hkunlp/instructor-base"`);
  }
  const parts = repo.split('/');
  const ok = parts.length === 2 && parts.every((p) => NAME_RE.test(p) && !p.includes('--') && !p.includes('..') && !p.endsWith('.') && !p.endsWith('-'))
    && !repo.endsWith('.git');
  if (!ok) {
    fail('BAD_INPUT', `bad repo id ${JSON.stringify(repo)}: expected "org/name" (letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters each), e.g. "hkunlp/instructor-base"`);
  }
}

/** Checks a branch / tag name or commit hash (git ref-name rules; '/' allowed, as in refs/pr/1). */
export function validateRevision(rev: string): void {
  if (typeof rev !== 'string' || rev.length === 0 || rev.length > 255) fail('BAD_INPUT', `bad revision ${describeValue(rev)}: expected a branch, tag or 40-hex commit`);
  const bad = rev.startsWith('/') || rev.endsWith('/') || rev.endsWith('.') || rev.includes('\\') || rev.includes('..') || rev.includes('@{')
    || /[\x00-\x20\x7f~^:?*[]/.test(rev) || rev.split('/').some((s) => s === '' || s.startsWith('.') || s.endsWith('.lock'));
  if (bad) fail('BAD_INPUT', `bad revision ${JSON.stringify(rev)}: expected a branch, tag or 40-hex commit (no '..', leading '/', backslashes, spaces or control characters)`);
}

/** Checks a file path inside a repo: relative, '/'-separated, no '.', '..' or empty segments. */
export function validateRepoPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) fail('BAD_INPUT', `file path must be a non-empty string, got ${describeValue(path)}`);
  const bad = path.startsWith('/') || path.includes('\\') || /[\x00-\x1f\x7f]/.test(path) || /^[A-Za-z]:/.test(path)
    || path.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) fail('BAD_INPUT', `bad file path ${JSON.stringify(path)}: expected a relative path inside the repo such as "2_Dense/config.json" (no '..', '.', empty segments, leading '/' or backslashes)`);
}

/** `org/name` or `org/name@revision` (revision default 'main'). Throws BAD_INPUT on anything else. */
export function parseRepoId(s: string): { repo: string; revision: string } {
  if (typeof s !== 'string') fail('BAD_INPUT', `repo id must be a string, got ${typeof s}`);
  const at = s.indexOf('@');
  const repo = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? 'main' : s.slice(at + 1);
  validateRepo(repo);
  validateRevision(revision);
  return { repo, revision };
}

/** Parses the repo id and merges `opts.revision` (a conflicting pair is BAD_INPUT). */
export function resolveRepoRevision(repoId: string, opts: HubOptions = {}): { repo: string; revision: string } {
  const p = parseRepoId(repoId);
  if (opts.revision !== undefined) {
    validateRevision(opts.revision);
    if (repoId.includes('@') && opts.revision !== p.revision) {
      fail('BAD_INPUT', `revision given twice: "${repoId}" and { revision: "${opts.revision}" }`);
    }
    p.revision = opts.revision;
  }
  return p;
}

/** `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}` with each path segment encoded. */
export function hubFileUrl(endpoint: string, repo: string, revision: string, path: string): string {
  validateRepo(repo);
  validateRevision(revision);
  validateRepoPath(path);
  const p = path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${p}`;
}

// ---------------------------------------------------------------- headers

/** Strips a weak `W/` prefix and surrounding quotes. */
export function normalizeEtag(etag: string | null | undefined): string | undefined {
  if (etag == null) return undefined;
  let e = etag.trim();
  if (e.startsWith('W/')) e = e.slice(2);
  e = e.replace(/^"+|"+$/g, '');
  return e || undefined;
}

/** What a normalized etag lets us check: LFS sha256 (64 hex), git blob sha1 (40 hex), or nothing. */
export function etagDigest(etag: string): 'sha256' | 'git-sha1' | null {
  if (/^[0-9a-f]{64}$/i.test(etag)) return 'sha256';
  if (/^[0-9a-f]{40}$/i.test(etag)) return 'git-sha1';
  return null;
}

/** The prefix of a git blob object: sha1("blob " + size + "\0" + content) is the blob id. */
export function gitBlobHeader(size: number): Uint8Array {
  return new TextEncoder().encode(`blob ${size}\0`);
}

/** URL without query / fragment (CDN URLs carry signatures) for error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return url;
  }
}

function originOf(url: string): string {
  return new URL(url).origin;
}

// ---------------------------------------------------------------- requests

/** A failure worth retrying (5xx, 429, connection reset, stall). */
export class TransientError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

export interface RequestContext {
  fetch: typeof fetch;
  signal?: AbortSignal;
  retries: number;
  retryDelayMs: number;
  /** For messages: "hkunlp/instructor-base", revision label, file. */
  repo: string;
  revision: string;
  file: string;
}

export function requestContext(repo: string, revision: string, file: string, opts: HubOptions): RequestContext {
  const f = opts.fetch ?? (globalThis.fetch as typeof fetch | undefined);
  if (typeof f !== 'function') fail('BAD_INPUT', 'no fetch() in this runtime: pass { fetch }');
  return {
    fetch: f,
    signal: opts.signal,
    retries: opts.retries ?? 4,
    retryDelayMs: opts.retryDelayMs ?? 500,
    repo,
    revision,
    file,
  };
}

export function abortedError(ctx: { signal?: AbortSignal; file: string }): InstructorError {
  const r = ctx.signal?.reason;
  const why = r instanceof Error && r.name !== 'AbortError' ? `: ${r.message}` : '';
  return new InstructorError('ABORTED', `download of ${ctx.file} aborted${why}`);
}

export function throwIfAborted(ctx: { signal?: AbortSignal; file: string }): void {
  if (ctx.signal?.aborted) throw abortedError(ctx);
}

/** Transport error codes that mean "no network / wrong host": retrying will not help. */
/**
 * Transport failures that mean the hub cannot be reached from here at all (no DNS, no route, nothing
 * listening): retrying in a few seconds will not help, so they fail at once as OFFLINE, which the
 * hub cache answers when it has the file (as huggingface_hub's LocalEntryNotFoundError), and which
 * the LangChain adapter does not retry (it retried NETWORK for 90 s).
 */
const UNREACHABLE_CAUSES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH']);
/** Transport failures that retrying will not mend either: a certificate or URL that is wrong. */
const PERMANENT_CAUSES = new Set(['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_INVALID_URL']);

function causeCode(e: unknown): string | undefined {
  for (let c: unknown = e, i = 0; c && i < 5; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** A transport failure in words: its message, its cause's, and the system error code. */
function describeTransportError(e: unknown): string {
  const code = causeCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  const inner = (e as { cause?: { message?: string } })?.cause?.message;
  return [msg, inner && inner !== msg ? inner : '', code ?? ''].filter(Boolean).join(': ');
}

/**
 * Maps a thrown transport error (fetch rejection, body read error) to ABORTED, a TransientError, a
 * final OFFLINE error (the hub cannot be reached) or a final NETWORK error.
 */
export function mapTransportError(e: unknown, url: string, ctx: { signal?: AbortSignal; file: string }, timedOut = false): Error {
  if (e instanceof InstructorError || e instanceof TransientError) return e;
  if (ctx.signal?.aborted) return abortedError(ctx);
  if (timedOut) return new TransientError(`no data from ${redactUrl(url)} for too long (timeout)`);
  const code = causeCode(e);
  if (code && UNREACHABLE_CAUSES.has(code)) {
    return new InstructorError('OFFLINE', `cannot reach ${redactUrl(url)}: ${describeTransportError(e)} (no network? HF_HUB_OFFLINE=1 uses the cache only; HF_ENDPOINT names the hub)`);
  }
  if (code && PERMANENT_CAUSES.has(code)) return new InstructorError('NETWORK', `cannot use ${redactUrl(url)}: ${describeTransportError(e)}`);
  return new TransientError(`request to ${redactUrl(url)} failed: ${describeTransportError(e)}`);
}

/** A per-attempt AbortSignal: follows the caller's signal and a restartable stall timer. */
export class AttemptSignal {
  private readonly ac = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  timedOut = false;
  private readonly onAbort = () => this.ac.abort(this.user?.reason);
  constructor(private readonly user: AbortSignal | undefined, private readonly ms: number) {
    if (user?.aborted) this.ac.abort(user.reason);
    else user?.addEventListener('abort', this.onAbort, { once: true });
    this.arm();
  }
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  /** (Re)starts the stall timer. */
  arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!(this.ms > 0) || !Number.isFinite(this.ms)) return;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.ac.abort(new Error('timeout'));
    }, this.ms);
    (this.timer as { unref?: () => void }).unref?.();
  }
  done(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.user?.removeEventListener('abort', this.onAbort);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` again after a TransientError, with exponential backoff, up to `ctx.retries` times. */
export async function withRetries<T>(ctx: RequestContext, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(ctx);
    try {
      return await fn(attempt);
    } catch (e) {
      if (!(e instanceof TransientError)) {
        if (ctx.signal?.aborted && !(e instanceof InstructorError && e.code !== 'ABORTED')) throw abortedError(ctx);
        throw e;
      }
      if (attempt >= ctx.retries) {
        fail('NETWORK', `${e.message}; gave up after ${attempt + 1} attempt${attempt ? 's' : ''} (${ctx.repo}@${ctx.revision}, file ${ctx.file})`);
      }
      const delay = Math.min(10_000, e.retryAfterMs ?? ctx.retryDelayMs * 2 ** attempt);
      try {
        await sleep(delay, ctx.signal);
      } catch {
        throw abortedError(ctx);
      }
    }
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface FollowResult {
  response: Response;
  /** The URL that gave `response`. */
  url: string;
  /** Whether the Authorization header was still being sent at the end. */
  authorized: boolean;
}

/**
 * One request with manual redirects (at most `maxRedirects`). The token goes only to `tokenOrigin`:
 * once a redirect leaves that origin, Authorization is dropped for good. With `followAbsolute`
 * false, only relative redirects (Location without a host) are followed and an absolute one is
 * returned as is (the hub's 302 to the LFS CDN carries the metadata headers).
 * Runtimes that hide redirects (browsers: an opaqueredirect) fall back to `redirect: 'follow'`,
 * where the Fetch standard drops Authorization on cross-origin redirects.
 */
export async function fetchFollow(ctx: RequestContext, url: string, init: {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  token?: string;
  tokenOrigin?: string;
  followAbsolute: boolean;
  signal: AbortSignal;
  maxRedirects?: number;
}): Promise<FollowResult> {
  const tokenOrigin = init.tokenOrigin ?? originOf(url);
  let current = url;
  let auth = init.token !== undefined && originOf(current) === tokenOrigin;
  let method = init.method;
  const max = init.maxRedirects ?? 10;
  for (let hops = 0; ; hops++) {
    const headers: Record<string, string> = { ...init.headers };
    if (auth) headers['Authorization'] = `Bearer ${init.token}`;
    let response = await ctx.fetch(current, { method, headers, redirect: 'manual', signal: init.signal });
    if (response.type === 'opaqueredirect' || (response.status === 0 && response.type !== 'error')) {
      response = await ctx.fetch(current, { method, headers, redirect: 'follow', signal: init.signal });
      return { response, url: response.url || current, authorized: auth && originOf(response.url || current) === tokenOrigin };
    }
    if (!REDIRECTS.has(response.status)) return { response, url: current, authorized: auth };
    const loc = response.headers.get('Location');
    if (!loc) return { response, url: current, authorized: auth };
    const absolute = /^[a-z][a-z0-9+.-]*:/i.test(loc) || loc.startsWith('//');
    if (absolute && !init.followAbsolute) return { response, url: current, authorized: auth };
    await response.body?.cancel().catch(() => {});
    if (hops >= max) fail('NETWORK', `too many redirects (more than ${max}) starting at ${redactUrl(url)}`);
    let next: URL;
    try {
      next = new URL(loc, current);
    } catch {
      fail('NETWORK', `bad redirect Location ${JSON.stringify(loc)} from ${redactUrl(current)}`);
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') fail('NETWORK', `redirect from ${redactUrl(current)} to a non-http URL ${redactUrl(next.href)}`);
    if (next.origin !== tokenOrigin) auth = false;
    if (response.status === 303 && method !== 'HEAD') method = 'GET';
    current = next.href;
  }
}

function retryAfterMs(r: Response): number | undefined {
  const v = r.headers.get('Retry-After');
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return Math.min(s * 1000, 10_000);
  const d = Date.parse(v);
  return Number.isFinite(d) ? Math.max(0, Math.min(d - Date.now(), 10_000)) : undefined;
}

/**
 * The error for a failed response: NOT_FOUND (404), UNAUTHORIZED (401/403), a TransientError
 * (429, 5xx) or NETWORK. Uses the hub's X-Error-Code / X-Error-Message when present.
 */
export function statusError(r: Response, url: string, ctx: RequestContext, tokenSent: boolean): Error {
  const code = r.headers.get('X-Error-Code') ?? '';
  const hubMsg = r.headers.get('X-Error-Message');
  const detail = hubMsg ? ` (${hubMsg})` : '';
  const where = `${redactUrl(url)}: HTTP ${r.status}${r.statusText ? ' ' + r.statusText : ''}`;
  if (r.status === 429 || r.status >= 500) return new TransientError(`${where}${detail}`, retryAfterMs(r));
  if (r.status === 401 || r.status === 403) {
    const gated = code === 'GatedRepo' || r.status === 403;
    return new InstructorError('UNAUTHORIZED', `access to ${ctx.repo} refused (${where})${detail}: the repo is private or gated${gated ? ' (accept its terms on the hub)' : ''}, or does not exist. `
      + (tokenSent ? 'A token was sent: check that it has read access to this repo.' : 'No token was sent: set HF_TOKEN (or pass { token }) to a Hugging Face access token.'));
  }
  if (r.status === 404) {
    let what: string;
    if (code === 'RepoNotFound') what = `repository ${ctx.repo} not found`;
    else if (code === 'RevisionNotFound') what = `revision ${ctx.revision} not found in ${ctx.repo}`;
    else what = `file ${ctx.file} not found in ${ctx.repo} at revision ${ctx.revision}`;
    return new InstructorError('NOT_FOUND', `${what} (${where})${detail}`);
  }
  return new InstructorError('NETWORK', `${where}${detail} (${ctx.repo}@${ctx.revision}, file ${ctx.file})`);
}

export type HeadResult =
  | { ok: true; meta: HubFileMetadata }
  | { ok: false; error: InstructorError; status: number; commit?: string; errorCode?: string };

/**
 * The metadata call: HEAD on the resolve URL (relative redirects followed, absolute ones not),
 * with retries. A 404 / 401 / 403 comes back as `{ ok: false }` with the X-Repo-Commit of the
 * response when the hub sent one (for `.no_exist` markers); other failures throw.
 */
export async function headHubFile(endpoint: string, repo: string, revision: string, path: string, token: string | undefined, opts: HubOptions, ctx: RequestContext): Promise<HeadResult> {
  const url = hubFileUrl(endpoint, repo, revision, path);
  const timeout = timeoutFor(opts, 'HF_HUB_ETAG_TIMEOUT');
  return withRetries(ctx, async () => {
    const att = new AttemptSignal(ctx.signal, timeout);
    let res: FollowResult;
    try {
      res = await fetchFollow(ctx, url, { method: 'HEAD', headers: { 'Accept-Encoding': 'identity' }, token, followAbsolute: false, signal: att.signal });
    } catch (e) {
      throw mapTransportError(e, url, ctx, att.timedOut);
    } finally {
      att.done();
    }
    const r = res.response;
    await r.body?.cancel().catch(() => {});
    const h = r.headers;
    const ok = (r.status >= 200 && r.status < 300) || REDIRECTS.has(r.status);
    if (!ok) {
      const err = statusError(r, res.url, ctx, res.authorized);
      if (err instanceof InstructorError && (r.status === 404 || r.status === 401 || r.status === 403)) {
        const c = h.get('X-Repo-Commit') ?? undefined;
        return { ok: false, error: err, status: r.status, commit: c && COMMIT_RE.test(c) ? c : undefined, errorCode: h.get('X-Error-Code') ?? undefined };
      }
      throw err;
    }
    const commit = h.get('X-Repo-Commit');
    const etag = normalizeEtag(h.get('X-Linked-Etag') ?? h.get('ETag'));
    const sizeStr = h.get('X-Linked-Size') ?? h.get('Content-Length');
    const size = sizeStr !== null && /^\d+$/.test(sizeStr.trim()) ? Number(sizeStr) : NaN;
    const where = `${redactUrl(res.url)} (HTTP ${r.status})`;
    if (!commit || !COMMIT_RE.test(commit)) {
      fail('NETWORK', `${where} sent no valid X-Repo-Commit header (got ${JSON.stringify(commit)}): this does not look like a Hugging Face hub; check HF_ENDPOINT or a proxy in between`);
    }
    if (!etag || !/^[A-Za-z0-9._+=-]+$/.test(etag) || etag === '.' || etag === '..') {
      fail('NETWORK', `${where} sent no usable ETag (got ${JSON.stringify(h.get('X-Linked-Etag') ?? h.get('ETag'))}); cannot cache or verify ${path}`);
    }
    if (!Number.isSafeInteger(size)) fail('NETWORK', `${where} sent no valid X-Linked-Size / Content-Length (got ${JSON.stringify(sizeStr)}) for ${path}`);
    const loc = REDIRECTS.has(r.status) ? h.get('Location') : null;
    const location = loc ? new URL(loc, res.url).href : res.url;
    return { ok: true, meta: { commit, etag, size, location, url: res.url } };
  });
}

/** `headHubFile` that throws on 404 / 401 / 403. */
export async function getHubFileMetadata(repoId: string, path: string, opts: HubOptions = {}): Promise<HubFileMetadata> {
  const { repo, revision } = resolveRepoRevision(repoId, opts);
  validateRepoPath(path);
  if (hubOffline(opts)) fail('OFFLINE', `offline mode (HF_HUB_OFFLINE): cannot fetch the metadata of ${path} in ${repo}@${revision}`);
  const ctx = requestContext(repo, revision, path, opts);
  const r = await headHubFile(hubEndpoint(opts), repo, revision, path, hubTokenFromEnv(opts), opts, ctx);
  if (!r.ok) throw r.error;
  return r.meta;
}

// ---------------------------------------------------------------- downloads

/** Where downloaded bytes go; `reset` empties it (the server ignored our Range and sent everything). */
export interface DownloadSink {
  readonly have: number;
  write(chunk: Uint8Array): Promise<void> | void;
  reset(): Promise<void> | void;
}

/**
 * Downloads `meta.location` into `sink` until it holds `meta.size` bytes: resumes with
 * `Range: bytes={have}-` (a 206 appends, a 200 starts over), retries transient failures (5xx,
 * reset connections, stalls) from where it got to. The token goes only to the hub's origin.
 */
export async function downloadToSink(meta: HubFileMetadata, sink: DownloadSink, hubOrigin: string, token: string | undefined, opts: HubOptions, ctx: RequestContext): Promise<void> {
  const total = meta.size;
  const timeout = timeoutFor(opts, 'HF_HUB_DOWNLOAD_TIMEOUT');
  const progress = (loaded: number) => opts.onProgress?.({ file: ctx.file, loaded, total });
  if (sink.have > total) await sink.reset();
  if (sink.have === total) {
    progress(total);
    return;
  }
  await withRetries(ctx, async () => {
    const start = sink.have;
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
    if (start > 0) headers['Range'] = `bytes=${start}-`;
    const att = new AttemptSignal(ctx.signal, timeout);
    try {
      let res: FollowResult;
      try {
        res = await fetchFollow(ctx, meta.location, { method: 'GET', headers, token, tokenOrigin: hubOrigin, followAbsolute: true, signal: att.signal });
      } catch (e) {
        throw mapTransportError(e, meta.location, ctx, att.timedOut);
      }
      const r = res.response;
      if (r.status === 416 && start > 0) {
        // our partial is not a prefix the server can continue: start over
        await r.body?.cancel().catch(() => {});
        await sink.reset();
        throw new TransientError(`${redactUrl(res.url)}: HTTP 416 for Range bytes=${start}-; restarting the download`, 0);
      }
      if (r.status !== 200 && r.status !== 206) {
        await r.body?.cancel().catch(() => {});
        throw statusError(r, res.url, ctx, res.authorized);
      }
      if (r.status === 206) {
        const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(r.headers.get('Content-Range') ?? '');
        if (!m || Number(m[1]) !== start || (m[3] !== '*' && Number(m[3]) !== total)) {
          await r.body?.cancel().catch(() => {});
          await sink.reset();
          throw new TransientError(`${redactUrl(res.url)}: HTTP 206 with Content-Range ${JSON.stringify(r.headers.get('Content-Range'))}, expected bytes ${start}-${total - 1}/${total}; restarting the download`, 0);
        }
      } else if (start > 0) {
        await sink.reset(); // 200: the whole file again
      }
      if (!r.body) fail('NETWORK', `${redactUrl(res.url)}: HTTP ${r.status} without a body`);
      progress(sink.have);
      const reader = r.body.getReader();
      try {
        for (;;) {
          att.arm();
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (e) {
            throw mapTransportError(e, res.url, ctx, att.timedOut);
          }
          if (chunk.done) break;
          const v = chunk.value;
          if (sink.have + v.length > total) {
            fail('INTEGRITY', `${ctx.file}: ${redactUrl(res.url)} sent more than the ${total} bytes the hub announced`);
          }
          await sink.write(v);
          progress(sink.have);
        }
      } finally {
        reader.releaseLock?.();
      }
      if (sink.have < total) throw new TransientError(`${redactUrl(res.url)}: connection closed after ${sink.have} of ${total} bytes`);
    } finally {
      att.done();
    }
  });
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Checks size and, by the etag's form, sha256 (LFS) or git blob sha1 with WebCrypto. Throws INTEGRITY. */
export async function verifyBytes(bytes: Uint8Array, meta: Pick<HubFileMetadata, 'etag' | 'size'>, file: string): Promise<void> {
  if (bytes.length !== meta.size) fail('INTEGRITY', `${file}: got ${bytes.length} bytes, the hub announced ${meta.size}`);
  const kind = etagDigest(meta.etag);
  if (!kind) return;
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return; // insecure browser contexts have no SubtleCrypto: size check only
  let data: Uint8Array = bytes;
  if (kind === 'git-sha1') {
    const h = gitBlobHeader(bytes.length);
    data = new Uint8Array(h.length + bytes.length);
    data.set(h);
    data.set(bytes, h.length);
  }
  const got = hex(await subtle.digest(kind === 'sha256' ? 'SHA-256' : 'SHA-1', data as Uint8Array<ArrayBuffer>));
  if (got !== meta.etag.toLowerCase()) {
    fail('INTEGRITY', `${file}: ${kind === 'sha256' ? 'sha256' : 'git blob sha1'} of the download is ${got}, the hub announced ${meta.etag}; the download is corrupt`);
  }
}

/**
 * Fetches one file into memory (browsers, Workers; no cache): same URL, redirect, token, retry
 * and integrity rules as the Node cache. Resumes an interrupted transfer with a Range request.
 */
export async function fetchHubFile(repoId: string, path: string, opts: HubOptions = {}): Promise<Uint8Array> {
  const { repo, revision } = resolveRepoRevision(repoId, opts);
  validateRepoPath(path);
  if (hubOffline(opts)) fail('OFFLINE', `offline mode (HF_HUB_OFFLINE): ${path} of ${repo}@${revision} is not in the cache (fetchHubFile has no cache)`);
  const ctx = requestContext(repo, revision, path, opts);
  throwIfAborted(ctx);
  const endpoint = hubEndpoint(opts);
  const token = hubTokenFromEnv(opts);
  const head = await headHubFile(endpoint, repo, revision, path, token, opts, ctx);
  if (!head.ok) throw head.error;
  const meta = head.meta;
  if (meta.size > 0x7fffffff) fail('BAD_INPUT', `${path} is ${meta.size} bytes: too large to fetch into memory`);
  let buf = new Uint8Array(meta.size);
  let have = 0;
  const sink: DownloadSink = {
    get have() {
      return have;
    },
    write(chunk) {
      buf.set(chunk, have);
      have += chunk.length;
    },
    reset() {
      have = 0;
    },
  };
  await downloadToSink(meta, sink, originOf(meta.url), token, opts, ctx);
  await verifyBytes(buf, meta, path);
  const out = buf;
  buf = new Uint8Array(0);
  return out;
}
