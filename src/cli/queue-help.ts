// Help of the queue commands (worker, embed --redis): no imports, so cli.ts can show it without
// loading bullmq, an optional peer dependency.

export const EMBED_REDIS_HELP = `  instructor-wasm embed --redis URL --queue NAME [--input FILE|-] [--output FILE|-]
                        [--format jsonl|npy] [--instruction TEXT] [--chunk-size N]
      As embed, on the workers listening on queue NAME ("instructor-wasm worker"): the input is
      split into jobs of --chunk-size inputs (default 64) with ids derived from their content,
      so running the same command again reuses the jobs already done. Output in input order;
      --format defaults to npy when --output ends in .npy. Progress on stderr; failed chunks are
      listed with their input indices (exit 1).`;

export const WORKER_HELP = `  instructor-wasm worker --redis URL --queue NAME --model SRC [--dtype int8|int4|fp32]
                         [--threads N|auto] [--concurrency N] [--batch-tokens N] [--name NAME]
                         [--lock-duration MS] [--stalled-interval MS]
      Embed the chunks that "embed --redis" (or embedCorpus) puts on queue NAME, until SIGTERM /
      SIGINT (then finish the jobs held and exit 0). One queue serves one model. The model runs
      in a worker thread, so BullMQ's lock renewal never waits for a forward pass; a killed
      worker's jobs return to the queue after --lock-duration (default 30000) and are found by
      the stalled check every --stalled-interval (default 30000). --name (default host:pid) is
      recorded on each job as processedBy. --concurrency: jobs held at once (default 2).
      --quiet: no per-job lines (the ready and stopped lines stay).`;
