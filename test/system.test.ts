// The test run with a system dependency missing (issue 22): it must fail loudly, naming the Debian
// package and how to install it, never pass by skipping (nginx missing used to give the replica
// tests "(0 / 2)" and exit 0; redis-server missing crashed the queue suite and skipped every later
// file). Each case runs uvu on a few test files in a child process: redis-server hidden from PATH
// (PATH is a folder of links to every other program on it), nginx pointed at nothing through
// NGINX (Debian installs it in /usr/sbin, which findBinary looks in after PATH).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/test/
const UVU = join(ROOT, 'node_modules', 'uvu', 'bin.js');
const dir = mkdtempSync(join(tmpdir(), 'iw-system-'));

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A folder of links to every program on PATH but `hidden`: PATH as if those were not installed. */
function pathWithout(hidden: string[]): string {
  const bin = mkdtempSync(join(dir, 'bin-'));
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (hidden.includes(name)) continue;
      try {
        symlinkSync(join(d, name), join(bin, name));
      } catch {
        // an earlier PATH folder has it: that one wins, as on PATH
      }
    }
  }
  return bin;
}

/** uvu on the test files matching `pattern`, as `npm test` runs it; its exit code and plain output. */
function runTests(pattern: string, env: Record<string, string | undefined>): { status: number | null; out: string } {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  const r = spawnSync(process.execPath, [UVU, 'dist/test', pattern], { cwd: ROOT, env: childEnv, encoding: 'utf8', timeout: 300_000 });
  // eslint-disable-next-line no-control-regex
  return { status: r.status, out: (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '') };
}

test('redis-server hidden from PATH: the queue tests fail, naming the Debian package; the files after them still run', () => {
  const { status, out } = runTests('(queue|similarity)\\.test\\.js$', { PATH: pathWithout(['redis-server']), REDIS_SERVER: undefined });
  assert.is(status, 1, out);
  assert.match(out, /redis-server is missing \(not on PATH nor in \/usr\/sbin, \/usr\/local\/sbin\): the queue and fleet tests \(test\/queue\.test\.ts, test\/fleet\.test\.ts\) need it\. It is Debian's redis-server package: sudo apt-get install -y redis-server/);
  const queue = /queue\.test\.js\n[^\n]*\((\d+) \/ (\d+)\)/.exec(out);
  assert.ok(queue, out);
  assert.is(queue![1], '0', 'no queue test passed');
  assert.ok(Number(queue![2]) > 10, 'every queue test is counted, as failed');
  assert.match(out, /not run: the file's setup failed \(redis-server is missing/);
  const later = /similarity\.test\.js\n[^\n]*\((\d+) \/ (\d+)\)/.exec(out);
  assert.ok(later && later[1] === later[2] && Number(later[1]) > 0, `the later file ran and passed:\n${out}`);
});

test('nginx missing: the replica tests fail naming the Debian package, not "(0 / 2)" in green', () => {
  const { status, out } = runTests('^replicas\\.test\\.js$', { NGINX: join(dir, 'no-nginx-here') });
  assert.is(status, 1, out);
  assert.match(out, /nginx is missing \(not an executable at NGINX=\S+no-nginx-here\): the replica tests \(test\/replicas\.test\.ts\) need it\. It is Debian's nginx package: sudo apt-get install -y nginx/);
  assert.match(out, /replicas\.test\.js\n[^\n]*\(0 \/ 2\)/);
  assert.match(out, /Total: +2\n +Passed: +0/);
});

test.run();
