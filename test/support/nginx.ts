// A real nginx for a test file (Debian's package; NGINX overrides the binary): its own prefix,
// config, pid file and logs in a temporary folder, listening on a loopback port, in front of the
// given upstream ports. The site config is deploy/nginx/instructor-wasm.conf with its listen
// address and server lines swapped for the test's.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary, freePort } from './system.js';

export const SITE_CONFIG = fileURLToPath(new URL('../../../deploy/nginx/instructor-wasm.conf', import.meta.url)); // from dist/test/support/

export interface AccessLogEntry {
  requestId: string;
  status: number;
  /** Replicas tried, in order ("127.0.0.1:port"). */
  upstreams: string[];
  /** Their statuses, in order ("502" for a connection nginx lost, "-" when none answered). */
  upstreamStatuses: string[];
}

export interface Nginx {
  url: string;
  port: number;
  /** The access log so far, one entry per request that carried an X-Request-Id. */
  accessLog(): AccessLogEntry[];
  errorLog(): string;
  stop(): Promise<void>;
}

/** The site config for `listen` and `upstreams`, from deploy/nginx/instructor-wasm.conf. */
export function siteConfig(listen: string, upstreams: string[]): string {
  const text = readFileSync(SITE_CONFIG, 'utf8');
  const servers = [...text.matchAll(/^(\s*)server\s+\S+:\d+(\s[^;]*)?;$/gm)];
  if (servers.length !== upstreams.length) throw new Error(`${SITE_CONFIG}: ${servers.length} upstream server lines, the test has ${upstreams.length} replicas`);
  let i = 0;
  const replaced = text.replace(/^(\s*)server\s+\S+:\d+((?:\s[^;]*)?);$/gm, (_, indent: string, params: string) => `${indent}server ${upstreams[i++]}${params};`);
  if (!/^\s*listen 80;$/m.test(replaced)) throw new Error(`${SITE_CONFIG}: no "listen 80;" line to replace`);
  return replaced.replace(/^(\s*)listen 80;$/m, `$1listen ${listen};`);
}

export async function startNginx(upstreamPorts: number[]): Promise<Nginx> {
  const bin = findBinary('nginx', 'NGINX', 'nginx', 'the replica tests (test/replicas.test.ts)');
  const prefix = mkdtempSync(join(tmpdir(), 'iw-nginx-'));
  // Worker processes may run as another user (nobody) when the test runs as root: let them in.
  chmodSync(prefix, 0o755);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(prefix, d));
    chmodSync(join(prefix, d), 0o777);
  }
  const port = await freePort();
  writeFileSync(join(prefix, 'instructor-wasm.conf'), siteConfig(`127.0.0.1:${port}`, upstreamPorts.map((p) => `127.0.0.1:${p}`)));
  writeFileSync(join(prefix, 'nginx.conf'), `
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 1024; }
http {
  log_format fleet '$http_x_request_id $status "$upstream_addr" "$upstream_status"';
  access_log ${prefix}/access.log fleet;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/instructor-wasm.conf;
}
`);
  const child: ChildProcess = spawn(bin, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const errorLog = () => {
    try {
      return readFileSync(join(prefix, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  // Ready once the port accepts connections.
  for (let t = 0; ; t++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${out}\n${errorLog()}`);
    if (t > 200) throw new Error(`nginx did not listen on ${port} in 10 s:\n${out}\n${errorLog()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accessLog() {
      let text = '';
      try {
        text = readFileSync(join(prefix, 'access.log'), 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter((l) => l && !l.startsWith('-')).map((l) => {
        const m = /^(\S+) (\d+) "([^"]*)" "([^"]*)"$/.exec(l);
        if (!m) throw new Error(`access log line: ${l}`);
        return { requestId: m[1], status: Number(m[2]), upstreams: m[3].split(/, | : /).filter(Boolean), upstreamStatuses: m[4].split(/, | : /).filter(Boolean) };
      });
    },
    errorLog,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGQUIT'); // graceful: finish the requests in progress
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
