// A real model's backend behind a gate the test opens: passes are formed and handed to the
// backend as the server would, but run only when the test lets them (so the test can fill the
// queue, cancel, or look at the counts while a pass is "running"). The model computes for real.
import type { ModelBackend, Pass, RunOptions } from '../../src/engine/backend.js';
import type { HostedModel } from '../../src/text/hosted.js';

export interface Gate {
  /** The hosted model to serve (its backend is gated). */
  model: HostedModel;
  /** Each pass handed to the backend so far: its sequences' lengths. */
  passes: number[][];
  /** Passes handed over and waiting at the gate. */
  readonly held: number;
  /** Lets `n` more passes through (Infinity: all from now on). */
  open(n?: number): void;
  /** Holds every pass from now on. */
  close(): void;
}

export function gated(inner: HostedModel, { closed = true }: { closed?: boolean } = {}): Gate {
  let allowance = closed ? 0 : Infinity;
  const waiting: Array<() => void> = [];
  const passes: number[][] = [];
  const letThrough = () => {
    while (allowance > 0 && waiting.length > 0) {
      allowance--;
      waiting.shift()!();
    }
  };
  const b = inner.backend;
  const backend: ModelBackend = {
    get dim() { return b.dim; },
    get lanes() { return b.lanes; },
    get threadsPerLane() { return b.threadsPerLane; },
    get maxPassTokens() { return b.maxPassTokens; },
    get memoryBytes() { return b.memoryBytes; },
    async run(pass: Pass, options?: RunOptions) {
      passes.push(Array.from(pass.lengths));
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        letThrough();
      });
      return b.run(pass, options);
    },
    close: () => b.close(),
  };
  return {
    model: { ...inner, tokenizer: inner.tokenizer, info: inner.info, maxSeqLength: inner.maxSeqLength, backend, dispose: inner.dispose },
    passes,
    get held() { return waiting.length; },
    open(n = Infinity) {
      allowance = n === Infinity ? Infinity : (allowance === Infinity ? 0 : allowance) + n;
      letThrough();
    },
    close() { allowance = 0; },
  };
}
