// lemo grad: the loss and the gradient of every LoRA tensor for a batch of token ids, dense or
// with tokens eliminated, written under PEFT's names (checks against references).
import { EngineSession, UserError, writeSafetensors } from '../engine/node';
import { nodeRuntime } from './session';
import { sparsityFrom, type SparsityFlags } from './sparsity-options';
import { checkOutput, readAdapterDir, readJson, readModelDir, writeFile } from './files';

interface GradOptions extends SparsityFlags {
  model: string;
  adapter?: string;
  tokens: string;
  out: string;
  loraR: string;
  loraAlpha: string;
  targetModules?: string;
  seed: string;
  threads: string;
  backend: string;
  sparsity: string;
}

export function readTokens(path: string): number[][] {
  const json = readJson(path, 'tokens file') as { input_ids?: unknown };
  const ids = json?.input_ids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((s) => Array.isArray(s) && s.every((x) => Number.isInteger(x)))) {
    throw new UserError(`${path} must hold {"input_ids": [[int, ...], ...]} with at least one sequence.`);
  }
  return ids as number[][];
}

export async function gradCommand(o: GradOptions): Promise<void> {
  checkOutput(o.out, '--out', 'file');
  const session = new EngineSession(await nodeRuntime(o), () => {});
  const summary = session.loadModel(readModelDir(o.model, { policy: true }));
  const adapter = o.adapter ? readAdapterDir(o.adapter) : undefined;
  const lora = { loraR: Number(o.loraR), loraAlpha: Number(o.loraAlpha), targetModules: o.targetModules ? o.targetModules.split(',').map((s) => s.trim()) : [], seed: Number(o.seed) };
  const ids = readTokens(o.tokens);
  const sparsity = await sparsityFrom(o, o.sparsity, session, { dir: o.model, policy: summary.policy }, ids[0]?.length ?? 0);
  const { loss, tokens, grads, shapes, kept } = await session.grad(ids, adapter, lora, sparsity);
  const out = new Map(Object.entries(grads).map(([name, data]) => [name, { shape: shapes[name], data }]));
  writeFile(o.out, writeSafetensors(out));
  process.stdout.write(`${JSON.stringify({ loss, tokens, ...(kept ? { kept } : {}) })}\n`);
}
