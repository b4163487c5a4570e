// Datasets: text files in, fixed-length token windows out. Each document is cut into
// consecutive windows of exactly ctx tokens (documents shorter than ctx are skipped), and the
// windows are visited in a seeded shuffled order.
import { UserError } from '../errors';
import { mulberry32 } from './random';

export interface Document {
  name: string;
  text: string;
}

/** Splits .txt/.md (one document) and .jsonl (a `text` field per line) into documents. */
export function parseDataset(name: string, content: string): Document[] {
  if (/\.jsonl$/i.test(name)) {
    const docs: Document[] = [];
    content.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        throw new UserError(`${name}, line ${i + 1}: not valid JSON.`);
      }
      const text = (obj as { text?: unknown })?.text;
      if (typeof text !== 'string') throw new UserError(`${name}, line ${i + 1}: no "text" field with a string.`);
      if (text.trim()) docs.push({ name: `${name}:${i + 1}`, text });
    });
    if (docs.length === 0) throw new UserError(`${name} has no lines with text.`);
    return docs;
  }
  if (!content.trim()) throw new UserError(`${name} is empty.`);
  return [{ name, text: content }];
}

export function windows(docs: number[][], ctx: number): number[][] {
  const out: number[][] = [];
  for (const d of docs) {
    if (d.length < ctx) continue;
    let s = 0;
    for (; s + ctx <= d.length; s += ctx) out.push(d.slice(s, s + ctx));
    // A tail of at least half a window is kept as the document's last ctx tokens.
    if (d.length - s >= ctx / 2) out.push(d.slice(d.length - ctx));
  }
  return out;
}

/** Endless seeded stream of batches of windows of equal length. */
export class WindowSampler {
  private order: number[] = [];
  private at = 0;
  private epoch = 0;
  constructor(private readonly all: number[][], private readonly seed: number) {
    if (all.length === 0) throw new UserError('The dataset has no document long enough for one training window; lower the context length or add text.');
    this.reshuffle();
  }
  private reshuffle(): void {
    const r = mulberry32(this.seed + this.epoch * 7919);
    this.order = this.all.map((_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.at = 0;
  }
  next(batch: number): number[][] {
    const out: number[][] = [];
    while (out.length < batch) {
      if (this.at >= this.order.length) {
        this.epoch++;
        this.reshuffle();
      }
      out.push(this.all[this.order[this.at++]]);
    }
    return out;
  }
  get size(): number {
    return this.all.length;
  }
}
