// Blocks of tokens: block j covers positions [j·b, min((j+1)·b, T)).
import { UserError } from '../errors';

/** Refuses a block that is not a whole number of tokens, or longer than the sequences it splits (every block would be padded). */
export function checkBlock(block: number, ctx: number, what = 'The block size (--block)'): void {
  if (!Number.isInteger(block) || block < 1) throw new UserError(`${what} must be a positive whole number of tokens, got ${block}.`);
  if (block > ctx) {
    throw new UserError(`${what} is ${block} tokens, longer than the ${ctx}-token sequences it splits into blocks: use a block of at most ${ctx} tokens, or a longer context.`);
  }
}

export function blockCount(T: number, block: number): number {
  return Math.ceil(T / block);
}

export function blocksToRows(blocks: number[], block: number, T: number): number[] {
  const rows: number[] = [];
  for (const j of [...new Set(blocks)].sort((a, b) => a - b)) for (let t = j * block; t < Math.min((j + 1) * block, T); t++) rows.push(t);
  return rows;
}

/** `{"block": b, "layers": [[block indices] or null, ...]}`: kept blocks forced per layer. */
export interface KeepSpec {
  block: number;
  layers: (number[] | null)[];
}

export function parseKeepSpec(json: unknown, layers: number, T: number): KeepSpec {
  const o = json as { block?: unknown; layers?: unknown };
  if (typeof o !== 'object' || o === null || !Number.isInteger(o.block) || (o.block as number) < 1) {
    throw new UserError('The keep file needs {"block": <positive integer>, "layers": [...]}.');
  }
  const block = o.block as number;
  if (!Array.isArray(o.layers) || o.layers.length !== layers) throw new UserError(`The keep file must list one entry per layer (${layers}).`);
  const n = blockCount(T, block);
  const out = o.layers.map((e, l) => {
    if (e === null) return null;
    if (!Array.isArray(e) || e.length === 0 || !e.every((j) => Number.isInteger(j) && j >= 0 && j < n)) {
      throw new UserError(`Layer ${l}: kept blocks must be a non-empty list of block indices in 0..${n - 1} (or null for dense).`);
    }
    return [...new Set(e as number[])].sort((a, b) => a - b);
  });
  return { block, layers: out };
}
