// Hugging Face hub client, Node part (also Deno / Bun through node:fs): the huggingface_hub cache
//   {cache}/models--{org}--{name}/blobs/{etag}                 the bytes, one file per content
//   {cache}/models--{org}--{name}/snapshots/{commit}/{path}    relative symlink to ../../blobs/{etag}
//   {cache}/models--{org}--{name}/refs/{revision}              the commit a branch / tag resolved to
//   {cache}/models--{org}--{name}/.no_exist/{commit}/{path}    marker: the file does not exist there
// so that caches filled by Python's huggingface_hub and by this library are interchangeable.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describeValue, fail, InstructorError } from '../errors.js';
import { makeDirs, tmpName } from '../format/fs-node.js';
import {
  downloadToSink, envGet, envIsTrue, etagDigest, gitBlobHeader, headHubFile, hubEndpoint, hubOffline, hubTokenFromEnv,
  abortedError, isCommitHash, parseRepoId, requestContext, resolveRepoRevision, sleep, throwIfAborted, validateRepo, validateRepoPath,
  type DownloadSink, type HubFileMetadata, type HubOptions,
} from './hub.js';

export * from './hub.js';

type Env = Record<string, string | undefined>;

function expandHome(p: string, env: Env): string {
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) return join(envGet(env, 'HOME') ?? envGet(env, 'USERPROFILE') ?? homedir(), p.slice(1));
  return p;
}

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHomeDir(env: Env = process.env): string {
  const home = envGet(env, 'HF_HOME');
  if (home) return resolve(expandHome(home, env));
  const xdg = envGet(env, 'XDG_CACHE_HOME');
  const base = xdg ? expandHome(xdg, env) : join(envGet(env, 'HOME') ?? envGet(env, 'USERPROFILE') ?? homedir(), '.cache');
  return resolve(base, 'huggingface');
}

/** The hub cache: `HF_HUB_CACHE` (or the legacy `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hfCacheDir(env: Env = process.env): string {
  const c = envGet(env, 'HF_HUB_CACHE') ?? envGet(env, 'HUGGINGFACE_HUB_CACHE');
  if (c) return resolve(expandHome(c, env));
  return join(hfHomeDir(env), 'hub');
}

/** `models--{org}--{name}` (huggingface_hub's repo_folder_name for model repos). */
export function repoFolderName(repo: string): string {
  validateRepo(repo);
  return `models--${repo.split('/').join('--')}`;
}

export interface HubCachePaths {
  /** `{cache}/models--{org}--{name}` */
  root: string;
  blobs: string;
  refs: string;
  snapshots: string;
  noExist: string;
  /** `snapshots/{commit}` when a commit was given. */
  snapshot?: string;
  /** `{root}/instructor-wasm`: this library's converted weights. */
  converted: string;
}

/** The cache folders of one model repo (`repo` is `org/name`; an `@revision` suffix is ignored). */
export function hubCachePaths(repo: string, commit?: string, cacheDir?: string): HubCachePaths {
  const r = repo.includes('@') ? parseRepoId(repo).repo : repo;
  if (commit !== undefined && !isCommitHash(commit)) fail('BAD_INPUT', `commit must be 40 lowercase hex digits, got ${describeValue(commit)}`);
  const root = join(resolve(cacheDir ?? hfCacheDir()), repoFolderName(r));
  return {
    root,
    blobs: join(root, 'blobs'),
    refs: join(root, 'refs'),
    snapshots: join(root, 'snapshots'),
    noExist: join(root, '.no_exist'),
    snapshot: commit === undefined ? undefined : join(root, 'snapshots', commit),
    converted: join(root, 'instructor-wasm'),
  };
}

/** `{cache}/models--{org}--{name}/instructor-wasm/{commit}.{dtype}.iwt` */
export function convertedCachePath(repoId: string, commit: string, dtype: string, cacheDir?: string): string {
  if (!isCommitHash(commit)) fail('BAD_INPUT', `commit must be 40 lowercase hex digits, got ${describeValue(commit)}`);
  if (typeof dtype !== 'string' || !/^[a-z0-9_]{1,32}$/i.test(dtype)) fail('BAD_INPUT', `dtype must be a short name such as "int8", got ${describeValue(dtype)}`);
  return join(hubCachePaths(repoId, undefined, cacheDir).converted, `${commit}.${dtype}.iwt`);
}

/** Token: `opts.token`, `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, then the file `HF_TOKEN_PATH` / `$HF_HOME/token` (huggingface-cli login). */
export async function hubToken(opts: HubOptions = {}): Promise<string | undefined> {
  if (opts.token !== undefined) return hubTokenFromEnv(opts);
  if (envIsTrue(envGet(opts.env, 'HF_HUB_DISABLE_IMPLICIT_TOKEN'))) return undefined;
  const t = hubTokenFromEnv(opts);
  if (t) return t;
  const env = opts.env ?? process.env;
  const file = envGet(env, 'HF_TOKEN_PATH') ?? join(hfHomeDir(env), 'token');
  try {
    return (await readFile(expandHome(file, env), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- small fs helpers

async function isFile(p: string): Promise<number | undefined> {
  try {
    const s = await stat(p); // follows symlinks: a dangling one is "absent"
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}


async function writeAtomic(p: string, text: string): Promise<void> {
  await makeDirs(dirname(p), 'hub cache');
  const tmp = tmpName(p);
  await writeFile(tmp, text);
  try {
    await rename(tmp, p);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readRef(paths: HubCachePaths, revision: string): Promise<string | undefined> {
  try {
    const c = (await readFile(join(paths.refs, ...revision.split('/')), 'utf8')).trim();
    return isCommitHash(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

async function writeRef(paths: HubCachePaths, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  if ((await readRef(paths, revision)) === commit) return;
  await writeAtomic(join(paths.refs, ...revision.split('/')), commit);
}

const pointerPath = (paths: HubCachePaths, commit: string, file: string) => join(paths.snapshots, commit, ...file.split('/'));
const noExistPath = (paths: HubCachePaths, commit: string, file: string) => join(paths.noExist, commit, ...file.split('/'));

/** snapshots/{commit}/{file} -> relative symlink to the blob; hard link, then copy, where symlinks fail (Windows without developer mode). */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await makeDirs(dirname(pointer), 'hub cache');
  const tmp = tmpName(pointer);
  try {
    try {
      await symlink(relative(dirname(pointer), blob), tmp);
    } catch {
      try {
        await link(blob, tmp);
      } catch {
        await copyFile(blob, tmp);
      }
    }
    await rename(tmp, pointer);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function hashFile(path: string, h: Hash, end: number): Promise<void> {
  return new Promise((res, rej) => {
    const s = createReadStream(path, { start: 0, end: end - 1 });
    s.on('data', (c) => h.update(c as Uint8Array));
    s.on('error', rej);
    s.on('end', () => res());
  });
}

// ---------------------------------------------------------------- downloads

interface Session {
  repo: string;
  endpoint: string;
  token: string | undefined;
  paths: HubCachePaths;
  opts: HubOptions;
}

interface OneResult {
  path?: string;
  commit?: string;
  missing?: boolean;
}

/** Downloads in this process, by blob path: a second caller waits for the first. */
const inflight = new Map<string, Promise<void>>();

async function downloadBlob(s: Session, meta: HubFileMetadata, file: string, blob: string, opts: HubOptions, label: string): Promise<void> {
  const ctx = requestContext(s.repo, label, file, opts);
  const incomplete = `${blob}.incomplete`; // its folder exists: lockBlob made it
  const kind = etagDigest(meta.etag);
  const newHash = (): Hash | null => {
    if (kind === 'sha256') return createHash('sha256');
    if (kind === 'git-sha1') return createHash('sha1').update(gitBlobHeader(meta.size));
    return null;
  };
  let hash = newHash();
  let have = (await isFile(incomplete)) ?? 0;
  if (have > meta.size) {
    await rm(incomplete, { force: true });
    have = 0;
  }
  if (have > 0 && hash) await hashFile(incomplete, hash, have);
  const fh = await open(incomplete, 'a');
  let integrityFailed = false;
  try {
    const sink: DownloadSink = {
      get have() {
        return have;
      },
      async write(chunk: Uint8Array) {
        for (let off = 0; off < chunk.length;) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
        hash?.update(chunk);
        have += chunk.length;
      },
      async reset() {
        await fh.truncate(0);
        hash = newHash();
        have = 0;
      },
    };
    try {
      await downloadToSink(meta, sink, new URL(s.endpoint).origin, s.token, opts, ctx);
    } catch (e) {
      if (e instanceof InstructorError && e.code === 'INTEGRITY') integrityFailed = true;
      throw e;
    }
    await fh.sync().catch(() => {});
    const size = (await fh.stat()).size;
    if (size !== meta.size) {
      integrityFailed = true;
      fail('INTEGRITY', `${file}: downloaded ${size} bytes, the hub announced ${meta.size}`);
    }
    if (hash) {
      const got = hash.digest('hex');
      if (got !== meta.etag.toLowerCase()) {
        integrityFailed = true;
        fail('INTEGRITY', `${file} of ${s.repo}@${label}: ${kind === 'sha256' ? 'sha256' : 'git blob sha1'} of the download is ${got}, the hub announced ${meta.etag}; the download is corrupt and was deleted`);
      }
    }
  } finally {
    await fh.close().catch(() => {});
    if (integrityFailed) await rm(incomplete, { force: true });
  }
  await rename(incomplete, blob);
}

/** How often a process waiting on another's download looks again. */
const LOCK_POLL_MS = 200;
/** A lock whose blob saw no write for this long is taken over, whoever holds it. */
const LOCK_STALE_MS = 10 * 60 * 1000;

/**
 * The cross-process lock on one blob's download: `{blob}.lock`, created exclusively and holding
 * "pid host". Without it two processes append to the same .incomplete file and interleave their
 * bytes (the hash check catches that, but fails both); huggingface_hub locks for the same reason.
 * Node has no flock, which the OS would release with its process, so a lock is taken over when
 * its holder is gone (a pid of this host that no longer runs) or its download has not written for
 * LOCK_STALE_MS (a holder on another host of a shared cache). Resolves to the release function,
 * or to null when the blob appeared while waiting.
 */
async function lockBlob(blob: string, ctx: { signal?: AbortSignal; file: string }): Promise<(() => Promise<void>) | null> {
  const lock = `${blob}.lock`;
  for (;;) {
    throwIfAborted(ctx);
    try {
      const fh = await open(lock, 'wx');
      try {
        await fh.writeFile(`${process.pid} ${hostname()}\n`);
      } finally {
        await fh.close();
      }
      return () => rm(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if ((await isFile(blob)) !== undefined) return null;
    if (await lockIsStale(lock, `${blob}.incomplete`)) {
      await rm(lock, { force: true });
      continue;
    }
    await sleep(LOCK_POLL_MS, ctx.signal).catch(() => { throw abortedError(ctx); });
  }
}

async function lockIsStale(lock: string, incomplete: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(lock, 'utf8');
  } catch {
    return false; // released meanwhile: the next attempt to create it says more
  }
  const [pidText, host] = text.trim().split(' ');
  const pid = Number(pidText);
  if (host === hostname() && Number.isInteger(pid) && pid > 0 && !processRuns(pid)) return true;
  const lastWrite = Math.max(...(await Promise.all([lock, incomplete].map((p) => stat(p).then((st) => st.mtimeMs, () => 0)))));
  return Date.now() - lastWrite > LOCK_STALE_MS;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

async function ensureBlob(s: Session, meta: HubFileMetadata, file: string, opts: HubOptions, label: string): Promise<string> {
  const blob = join(s.paths.blobs, meta.etag);
  // Under the cross-process lock, and only if no other process got the blob meanwhile.
  const lockedDownload = async () => {
    await makeDirs(dirname(blob), 'hub cache');
    const release = await lockBlob(blob, requestContext(s.repo, label, file, opts));
    if (!release) return;
    try {
      if ((await isFile(blob)) === undefined) await downloadBlob(s, meta, file, blob, opts, label);
    } finally {
      await release();
    }
  };
  for (let i = 0; i < 3; i++) {
    const size = await isFile(blob);
    if (size !== undefined) {
      opts.onProgress?.({ file, loaded: size, total: size });
      return blob;
    }
    // one transfer per blob within this process too
    const other = inflight.get(blob);
    if (other) {
      await other.catch(() => {});
      continue;
    }
    const mine = lockedDownload();
    inflight.set(blob, mine);
    try {
      await mine;
    } finally {
      inflight.delete(blob);
    }
  }
  await lockedDownload();
  return blob;
}

/** The cached snapshot file for `revision` (a commit, or a ref in refs/), if any. */
async function fromCache(s: Session, revision: string, file: string): Promise<OneResult | undefined> {
  const commit = isCommitHash(revision) ? revision : await readRef(s.paths, revision);
  if (!commit) return undefined;
  const p = pointerPath(s.paths, commit, file);
  const size = await isFile(p);
  if (size !== undefined) {
    s.opts.onProgress?.({ file, loaded: size, total: size });
    return { path: p, commit };
  }
  if (await exists(noExistPath(s.paths, commit, file))) return { missing: true, commit };
  return undefined;
}

const canFallBack = (e: unknown) => e instanceof InstructorError && (e.code === 'NETWORK' || e.code === 'OFFLINE' || e.code === 'UNAUTHORIZED');

/**
 * One file, huggingface_hub's hf_hub_download: a pinned commit already in the cache needs no
 * request; otherwise the metadata call, refs/{revision}, then the blob (downloaded, resumed and
 * verified unless present) and the snapshot pointer. A 404 leaves a .no_exist marker. When the hub
 * cannot be reached (or refuses), a cached copy of the revision is used.
 */
async function fetchOne(s: Session, revision: string, file: string, optional: boolean, opts: HubOptions, label = revision): Promise<OneResult> {
  const ctx = requestContext(s.repo, label, file, opts);
  throwIfAborted(ctx);
  if (isCommitHash(revision)) {
    const cached = await fromCache(s, revision, file);
    if (cached?.path || (cached?.missing && optional)) return cached;
  }
  let head;
  try {
    head = await headHubFile(s.endpoint, s.repo, revision, file, s.token, opts, ctx);
    if (!head.ok && head.status !== 404) throw head.error;
  } catch (e) {
    if (canFallBack(e)) {
      const cached = await fromCache(s, revision, file);
      if (cached?.path || (cached?.missing && optional)) return cached;
    }
    if (e instanceof InstructorError && e.code === 'OFFLINE') {
      throw new InstructorError('OFFLINE', `${e.message}; and ${file} of ${s.repo}@${revision} is not in the cache (${s.paths.root})`);
    }
    throw e;
  }
  if (!head.ok) {
    const c = head.commit;
    if (c && head.errorCode !== 'RepoNotFound' && head.errorCode !== 'RevisionNotFound') {
      const marker = noExistPath(s.paths, c, file);
      await makeDirs(dirname(marker), 'hub cache');
      await writeFile(marker, '', { flag: 'a' });
      await writeRef(s.paths, revision, c);
    }
    if (optional && head.errorCode !== 'RepoNotFound' && head.errorCode !== 'RevisionNotFound') return { missing: true, commit: c };
    throw head.error;
  }
  const meta = head.meta;
  await writeRef(s.paths, revision, meta.commit);
  const pointer = pointerPath(s.paths, meta.commit, file);
  const size = await isFile(pointer);
  if (size !== undefined) {
    opts.onProgress?.({ file, loaded: size, total: size });
    return { path: pointer, commit: meta.commit };
  }
  const blob = await ensureBlob(s, meta, file, opts, label);
  await linkPointer(blob, pointer);
  return { path: pointer, commit: meta.commit };
}

async function session(repoId: string, opts: HubOptions): Promise<{ s: Session; revision: string; offline: boolean }> {
  const { repo, revision } = resolveRepoRevision(repoId, opts);
  const env = opts.env ?? process.env;
  const offline = hubOffline(opts);
  const cacheDir = opts.cacheDir ?? hfCacheDir(env);
  const s: Session = {
    repo,
    endpoint: offline ? '' : hubEndpoint(opts),
    token: offline ? undefined : await hubToken(opts),
    paths: hubCachePaths(repo, undefined, cacheDir),
    opts,
  };
  return { s, revision, offline };
}

function offlineError(s: Session, revision: string, file: string): InstructorError {
  return new InstructorError('OFFLINE', `offline mode (HF_HUB_OFFLINE): ${file} of ${s.repo}@${revision} is not in the cache (${s.paths.root}); download it once online, or unset HF_HUB_OFFLINE`);
}

/**
 * Downloads one file of a model repo into the huggingface_hub cache (or finds it there) and
 * returns its path `{cache}/models--org--name/snapshots/{commit}/{path}`.
 * `repoId` is `org/name` or `org/name@revision`.
 */
export async function downloadFile(repoId: string, path: string, opts: HubOptions = {}): Promise<string> {
  validateRepoPath(path);
  const { s, revision, offline } = await session(repoId, opts);
  if (opts.signal?.aborted) throwIfAborted({ signal: opts.signal, file: path });
  if (offline) {
    const r = await fromCache(s, revision, path);
    if (r?.path) return r.path;
    if (r?.missing) fail('NOT_FOUND', `file ${path} does not exist in ${s.repo}@${revision} (cached .no_exist marker; offline mode)`);
    throw offlineError(s, revision, path);
  }
  const r = await fetchOne(s, revision, path, false, opts);
  return r.path!;
}

export type SnapshotFile = string | { path: string; optional?: boolean };

/**
 * Downloads the named files of one revision into `snapshots/{commit}/` (all from the same commit:
 * the first metadata call pins it). Optional files that do not exist (404) are skipped and
 * remembered in `.no_exist/{commit}/`; a missing required file is NOT_FOUND. Offline, everything
 * comes from the cache (optional files not cached are skipped).
 */
export async function downloadSnapshot(repoId: string, files: SnapshotFile[], opts: HubOptions = {}): Promise<{ dir: string; commit: string; missing: string[] }> {
  if (!Array.isArray(files) || files.length === 0) fail('BAD_INPUT', 'downloadSnapshot needs a non-empty list of files');
  const byPath = new Map<string, boolean>();
  for (const f of files) {
    const p = typeof f === 'string' ? f : f?.path;
    const optional = typeof f === 'object' && f !== null && f.optional === true;
    validateRepoPath(p);
    byPath.set(p, (byPath.get(p) ?? true) && optional);
  }
  const list = [...byPath].map(([path, optional]) => ({ path, optional }));
  const { s, revision, offline } = await session(repoId, opts);
  throwIfAborted({ signal: opts.signal, file: list[0].path });
  const missing: string[] = [];

  if (offline) {
    const commit = isCommitHash(revision) ? revision : await readRef(s.paths, revision);
    if (!commit) throw offlineError(s, revision, (list.find((f) => !f.optional) ?? list[0]).path);
    for (const f of list) {
      const r = await fromCache(s, commit, f.path);
      if (r?.path) continue;
      if (f.optional) missing.push(f.path);
      else if (r?.missing) fail('NOT_FOUND', `file ${f.path} does not exist in ${s.repo}@${revision} (cached .no_exist marker; offline mode)`);
      else throw offlineError(s, revision, f.path);
    }
    return { dir: join(s.paths.snapshots, commit), commit, missing };
  }

  let commit = isCommitHash(revision) ? revision : undefined;
  let i = 0;
  for (; commit === undefined && i < list.length; i++) {
    const r = await fetchOne(s, revision, list[i].path, list[i].optional, opts);
    if (r.missing) missing.push(list[i].path);
    commit = r.commit;
  }
  if (commit === undefined) fail('NOT_FOUND', `none of the files ${list.map((f) => f.path).join(', ')} exist in ${s.repo}@${revision}`);
  const pinned = commit;
  const label = pinned === revision ? revision : `${revision} (commit ${pinned.slice(0, 12)})`;
  const rest = list.slice(i);
  // the rest, pinned to that commit, a few at a time; the first failure cancels the others
  const inner = new AbortController();
  const onAbort = () => inner.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const sub: HubOptions = { ...opts, signal: inner.signal };
  let firstError: unknown;
  let next = 0;
  const worker = async () => {
    while (next < rest.length && firstError === undefined) {
      const f = rest[next++];
      try {
        const r = await fetchOne(s, pinned, f.path, f.optional, sub, label);
        if (r.missing) missing.push(f.path);
      } catch (e) {
        if (firstError === undefined) firstError = e;
        inner.abort(new Error('another download failed'));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(4, rest.length) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (firstError !== undefined) throw firstError;
  missing.sort((a, b) => list.findIndex((f) => f.path === a) - list.findIndex((f) => f.path === b));
  return { dir: join(s.paths.snapshots, pinned), commit: pinned, missing };
}
