// deploy/: what can be checked without a container engine or a cluster (neither exists here).
// The Dockerfile's command and the Deployment's args are parsed by the server's own argument
// parser and the Dockerfile's command is run as a process; the timings (preStop, drain deadline,
// grace period), probes, ports and autoscaler agree with each other; the files the image copies exist.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseServeArgs } from '../src/cli/serve.js';
import { cli, tinyWeightsFile } from './support/fleet.js';
import { freePort } from './support/system.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // from dist/test/
const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
type Doc = Record<string, any>; // parsed YAML, checked field by field below
const manifests: Doc[] = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/instructor-wasm.yaml'), 'utf8')).map((d) => {
  assert.is(d.errors.length, 0, String(d.errors[0]));
  return d.toJS() as Doc;
});
const byKind = (kind: string) => {
  const m = manifests.filter((d) => d.kind === kind);
  assert.is(m.length, 1, `one ${kind}`);
  return m[0];
};

/** JSON-array instructions of the Dockerfile (ENTRYPOINT, CMD). */
function execForm(instruction: string): string[] {
  const m = new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(dockerfile);
  assert.ok(m, `Dockerfile has an exec-form ${instruction}`);
  return JSON.parse(m![1]);
}

test('Dockerfile: a Node LTS slim image; the command is a valid serve command line on the exposed port; copied files exist', () => {
  const base = /^ARG NODE_IMAGE=node:(\d+)[\w.-]*-slim$/m.exec(dockerfile);
  assert.ok(base, 'the base image is node:<version>-slim');
  assert.is(Number(base![1]) % 2, 0, 'an even Node major: an LTS line');
  assert.ok(Number(base![1]) >= 20, 'package.json engines: node >= 20');
  const entry = execForm('ENTRYPOINT');
  assert.equal(entry.slice(0, 1), ['node']);
  assert.is(entry[1], '/app/dist/src/cli/bin.js');
  const cmd = execForm('CMD');
  assert.is(cmd[0], 'serve');
  const config = parseServeArgs(cmd.slice(1), {});
  assert.is(config.host, '0.0.0.0');
  assert.match(dockerfile, new RegExp(`^EXPOSE ${config.port}$`, 'm'));
  assert.match(dockerfile, new RegExp(`fetch\\('http://127.0.0.1:${config.port}/health'\\)`));
  assert.equal(config.sources, ['/models/model.iwt']);
  assert.match(dockerfile, /^COPY --chown=node:node \$\{WEIGHTS\} \/models\/model\.iwt$/m);
  for (const path of ['dist/src/cli/bin.js', 'build/kernels.wasm', 'build/kernels-mt.wasm', 'tokenizer/t5/tokenizer.json', 'package-lock.json']) {
    assert.ok(existsSync(join(ROOT, path)), `${path} exists (after npm run build)`);
  }
  const ignored = readFileSync(join(ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  for (const needed of ['src', 'assembly', 'tokenizer', 'package.json', 'weights']) assert.not.ok(ignored.includes(needed), `${needed} stays in the build context`);
});

test("the Dockerfile's command runs: /health turns 200, SIGTERM drains and exits 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iw-deploy-'));
  try {
    const port = await freePort();
    const model = tinyWeightsFile(dir);
    const args = execForm('CMD').map((a) => (a === '/models/model.iwt' ? model : a === '0.0.0.0' ? '127.0.0.1' : a === '8080' ? String(port) : a));
    const serve = cli('serve', args);
    try {
      await serve.waitFor(/serve: ready/);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.is(health.status, 200);
      const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: Array<{ id: string }> };
      assert.equal(models.data.map((m) => m.id), ['instructor-base']);
      serve.child.kill('SIGTERM');
      assert.is(await serve.exited, 0, serve.stderr());
    } finally {
      await serve.kill('SIGKILL');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Kubernetes: readiness on /health, preStop + drain deadline within the grace period, HPA on CPU of this Deployment', () => {
  const deployment = byKind('Deployment');
  const pod = deployment.spec.template.spec;
  assert.is(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.is(c.args[0], 'serve');
  const config = parseServeArgs(c.args.slice(1), {});
  const port = c.ports.find((p: Doc) => p.name === 'http');
  assert.is(port.containerPort, config.port);
  assert.is(config.host, '0.0.0.0');
  for (const probe of ['readinessProbe', 'startupProbe']) {
    assert.equal(c[probe].httpGet, { path: '/health', port: 'http' }, probe);
  }
  assert.not.ok(c.livenessProbe.httpGet, 'liveness is not /health, which is 503 while draining');
  // Shutdown: preStop sleeps, then SIGTERM drains within --drain-timeout-ms; the grace period covers both.
  const sleep = c.lifecycle.preStop.exec.command;
  assert.is(sleep[0], 'sleep');
  const preStopSeconds = Number(sleep[1]);
  assert.ok(preStopSeconds >= 2 * c.readinessProbe.periodSeconds, 'preStop outlasts a readiness period or two');
  assert.ok(pod.terminationGracePeriodSeconds >= preStopSeconds + config.drainTimeoutMs / 1000 + 5,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < preStop ${preStopSeconds} + drain ${config.drainTimeoutMs / 1000} + 5`);
  assert.match(readFileSync(join(ROOT, 'deploy/kubernetes/instructor-wasm.yaml'), 'utf8'),
    new RegExp(`preStop sleeps ${preStopSeconds} s[\\s\\S]*\\(${config.drainTimeoutMs / 1000} s\\)\\. terminationGracePeriodSeconds \\(${pod.terminationGracePeriodSeconds}\\)`), 'the header comment states the same numbers');
  assert.is(config.threads, Number(c.resources.requests.cpu), '--threads equals the CPU request');
  assert.equal(deployment.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });

  const hpa = byKind('HorizontalPodAutoscaler');
  assert.is(hpa.apiVersion, 'autoscaling/v2');
  assert.equal(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  assert.is(hpa.spec.metrics[0].resource.name, 'cpu');
  assert.ok(hpa.spec.minReplicas >= 2, 'at least two replicas, so one can restart');

  const service = byKind('Service');
  assert.equal(service.spec.selector, deployment.spec.selector.matchLabels);
  assert.is(service.spec.ports[0].targetPort, 'http');
  const pdb = byKind('PodDisruptionBudget');
  assert.equal(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
});

test.run();
