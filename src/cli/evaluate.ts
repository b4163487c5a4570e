// lemo eval: perplexity of a model (optionally with a PEFT adapter) over a dataset file.
import { int, num, openSession, readDataset } from './session';
import { checkOutput, readAdapterDir, writeFile } from './files';
import { evalChunks } from '../engine/node';

export interface EvalOptions {
  model: string;
  adapter?: string;
  data: string;
  ctx: string;
  ropeScale?: string;
  dumpIds?: string;
  memoryBudget?: string;
  threads: string;
  backend: string;
}

export async function evalCommand(o: EvalOptions): Promise<void> {
  if (o.dumpIds) checkOutput(o.dumpIds, '--dump-ids', 'file');
  const { session } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale') });
  const docs = readDataset(o.data);
  const adapter = o.adapter ? readAdapterDir(o.adapter) : undefined;
  let last = 0;
  const r = await session.evaluate(docs, int(o.ctx, 'ctx', 2), adapter, (done, total) => {
    if (Date.now() - last > 2000 || done === total) {
      last = Date.now();
      process.stderr.write(`eval: ${done}/${total} chunks\n`);
    }
  });
  if (o.dumpIds) {
    // The exact windows the loss came from, for an outside check (tools/peft-roundtrip).
    const ctx = int(o.ctx, 'ctx', 2);
    const dump = { ctx, rope_scale: session.config.rope?.linearFactor ?? null, loss: r.loss, tokens: r.tokens, perplexity: r.perplexity, input_ids: evalChunks(session.tokenize(docs), ctx) };
    writeFile(o.dumpIds, JSON.stringify(dump));
  }
  process.stdout.write(`${JSON.stringify({ perplexity: r.perplexity, loss: r.loss, tokens: r.tokens })}\n`);
}
