// The embedding server on a real loopback port for tests: createEmbeddingServer behind the same
// Node listener `instructor-wasm serve` uses, plus a raw-socket client for what fetch cannot send
// (a Content-Length that lies, a body that stalls, a client that leaves mid-body).
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { nodeListener } from '../../src/runtimes/node-http.js';
import { createEmbeddingServer, type EmbeddingServer, type EmbeddingServerOptions, type RequestLog } from '../../src/server/app.js';

export interface TestServer {
  url: string;
  port: number;
  app: EmbeddingServer;
  log: RequestLog[];
  close(): Promise<void>;
}

export async function startServer(options: EmbeddingServerOptions): Promise<TestServer> {
  const log: RequestLog[] = [];
  const app = createEmbeddingServer({ ...options, onRequest: (e) => { log.push(e); options.onRequest?.(e); } });
  // as `instructor-wasm serve` listens: health checks and refusals at the door answered at once
  const server: Server = createServer(nodeListener(app.fetch, { door: (m, p, t, a) => app.answerAtOnce(m, p, t, a) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, port, app, log,
    async close() {
      await app.drain();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Body chunks written before the response head arrived. */
  sent: number;
}

/**
 * Sends `head` (request line and headers, without the blank line) and then `chunks` of body,
 * `gapMs` apart, over one TCP connection, and reads one response. `leaveAfter`: destroy the
 * socket after that many chunks instead of waiting for an answer (resolves with status 0).
 */
export function rawRequest(port: number, head: string, chunks: string[], opts: { gapMs?: number; leaveAfter?: number; timeoutMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let sent = 0, sentAtHead = -1;
    let done = false;
    const finish = (r: RawResponse | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const timer = setTimeout(() => finish(new Error(`no complete response in ${opts.timeoutMs ?? 10_000} ms: ${JSON.stringify(data.slice(0, 300))}`)), opts.timeoutMs ?? 10_000);
    const parse = () => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (sentAtHead < 0) sentAtHead = sent;
      const lines = data.slice(0, end).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      const body = data.slice(end + 4);
      if (Number.isFinite(length) && Buffer.byteLength(body) >= length) finish({ status, headers, body: body.slice(0, length), sent: sentAtHead });
    };
    socket.on('data', (d) => {
      data += d.toString('utf8');
      parse();
    });
    socket.on('error', (e) => {
      if (data.includes('\r\n\r\n')) parse();
      else finish(e);
    });
    socket.on('connect', async () => {
      socket.write(head + '\r\n\r\n');
      for (let i = 0; i < chunks.length; i++) {
        if (done) return;
        if (opts.leaveAfter !== undefined && i >= opts.leaveAfter) {
          finish({ status: 0, headers: {}, body: '', sent });
          return;
        }
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        if (!socket.destroyed) {
          socket.write(chunks[i]);
          sent++;
        }
      }
      if (opts.leaveAfter !== undefined && opts.leaveAfter >= chunks.length) finish({ status: 0, headers: {}, body: '', sent });
    });
  });
}

/** Resolves once `cond()` holds (polling every 10 ms), or rejects after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A sample of the Prometheus text: the value of `name{labels}` (exact label text), or 0 if absent. */
export function metric(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return 0;
}
