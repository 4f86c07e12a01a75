// The server's metrics in the Prometheus text exposition format (version 0.0.4): counters,
// gauges read when scraped, and histograms with fixed buckets. Runtime-neutral.

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}';
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const e = this.values.get(key);
    if (e) e.value += by;
    else this.values.set(key, { labels, value: by });
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) out.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return out;
  }
}

class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let b = 0; b < this.buckets.length; b++) if (value <= this.buckets[b]) s.counts[b]++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, b) => out.push(`${this.name}_bucket${labelText({ ...labels, le: num(le) })} ${counts[b]}`));
      out.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`);
      out.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return out;
  }
}

/** A gauge whose samples are read when scraped. */
interface Gauge {
  name: string;
  help: string;
  read: () => Array<{ labels: Labels; value: number }>;
}

export class Metrics {
  readonly requests = new Counter('instructor_requests_total', 'HTTP requests answered, by route and status.');
  readonly inputs = new Counter('instructor_inputs_total', 'Inputs embedded, by model.');
  readonly tokens = new Counter('instructor_tokens_total', 'Tokens embedded (after truncation), by model.');
  readonly truncated = new Counter('instructor_truncated_inputs_total', 'Inputs cut to the model\'s max_seq_length, by model.');
  readonly latency = new Histogram('instructor_request_duration_seconds', 'Time from request to response, by route.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
  readonly batchInputs = new Histogram('instructor_batch_inputs', 'Inputs per forward pass, by model.',
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
  readonly batchTokens = new Histogram('instructor_batch_tokens', 'Tokens per forward pass, by model.',
    [16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]);
  readonly passSeconds = new Histogram('instructor_batch_duration_seconds', 'Time of one forward pass, by model.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  readonly phase = new Histogram('instructor_phase_seconds', 'Time of each stage of the embedding requests answered: read (the body), tokenize, queue (until the first pass), compute (first pass start to last pass end), serialize.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  readonly refused = new Counter('instructor_refused_requests_total', 'Requests refused with 429, by reason: concurrency (no admission permit free) or queue (too many tokens in the system).');
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: Gauge['read']): void {
    this.gauges.push({ name, help, read });
  }

  render(): string {
    const lines: string[] = [];
    for (const m of [this.requests, this.refused, this.inputs, this.tokens, this.truncated, this.latency, this.phase, this.batchInputs, this.batchTokens, this.passSeconds]) {
      lines.push(...m.render());
    }
    for (const g of this.gauges) {
      const samples = g.read();
      if (samples.length === 0) continue;
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const { labels, value } of samples) lines.push(`${g.name}${labelText(labels)} ${num(value)}`);
    }
    return lines.join('\n') + '\n';
  }
}
