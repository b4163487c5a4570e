// A lookup table on the device: the token embedding, the LM head (the embedding itself when
// tied), GPT-2's learned positions. Stored whole when one device buffer may hold it (every small
// model); else cut by rows into chunks that each may, as the LM head's vocabulary chunks are cut
// (segments.ts tableChunkRows), so the head is lent each chunk in place and no buffer ever holds
// the whole table. Lookups gather the rows asked for from the chunks that hold them.
import { GraphBuilder } from '../graph/builder';
import { int64s, type Graph } from '../graph/ir';
import { hostBytes, type HostTensor } from '../model/model';
import { widenHalf } from '../model/safetensors';
import type { MemoryKind } from '../memory/accountant';
import type { Runtime, Tensor } from '../runtime/runtime';
import { gatherRows, type Frozen, type FrozenStore } from './frozen';
import { tableChunkRows } from './segments';

/** Rows [start, end) of a table, stored as one frozen weight. */
interface Part {
  start: number;
  end: number;
  frozen: Frozen;
}

interface TableGraphs {
  /** out = table[rows] */
  rows: Graph;
  /** out = mask ? table[rows] : acc, row by row (rows clamped into the table). */
  merge: Graph;
}

const graphCache = new Map<number, TableGraphs>();

function tableGraphs(C: number): TableGraphs {
  let g = graphCache.get(C);
  if (!g) {
    const rows = new GraphBuilder('table_rows');
    rows.output(rows.op1('Gather', [rows.input('table', 'float32', ['V', C]), rows.input('rows', 'int64', ['N'])], { axis: 0 }), 'out');
    const merge = new GraphBuilder('table_rows_merge');
    const picked = merge.op1('Gather', [merge.input('table', 'float32', ['V', C]), merge.input('rows', 'int64', ['N'])], { axis: 0 });
    merge.output(merge.op1('Where', [merge.input('mask', 'bool', ['N', 1]), picked, merge.input('acc', 'float32', ['N', C])]), 'out');
    g = { rows: rows.build(), merge: merge.build() };
    graphCache.set(C, g);
  }
  return g;
}

/** Whether a table is stored in chunks of rows: its bytes are more than one device buffer may hold. */
export function storedInChunks(h: HostTensor, limit: number): boolean {
  return hostBytes(h) > limit;
}

export class LookupTable {
  /** Row copies lent by rows() (freed by release()). */
  private readonly copies = new Set<Tensor>();

  private constructor(private readonly rt: Runtime, private readonly store: FrozenStore, readonly host: HostTensor, private readonly parts: Part[]) {}

  /** A host table on the device: whole when its bytes fit `limit` (one device buffer), else by chunks of rows. */
  static async put(rt: Runtime, store: FrozenStore, h: HostTensor, limit: number): Promise<LookupTable> {
    const [R, C] = h.shape;
    const n = storedInChunks(h, limit) ? tableChunkRows(R, C, limit) : R;
    const parts: Part[] = [];
    for (let start = 0; start < R; start += n) {
      const end = Math.min(R, start + n);
      const rows = n === R ? h : { shape: [end - start, C], data: h.data.subarray(start * C, end * C), ...(h.half ? { half: h.half } : {}) };
      parts.push({ start, end, frozen: await store.put(rows) });
    }
    return new LookupTable(rt, store, h, parts);
  }

  /** The rows [start, end) of each stored chunk (one: the table is whole). */
  get chunks(): [number, number][] {
    return this.parts.map((p) => [p.start, p.end]);
  }

  /**
   * The table's rows for the given indices, with the indices renumbered into them: the stored
   * float32 table when whole; from a 2-byte table, only the rows asked for (widened on the host);
   * from a float32 table in chunks, those rows gathered from their chunks on the device. What is
   * not the stored table is counted as weights until the store releases it.
   */
  async lookup(indices: number[]): Promise<{ table: Tensor; at: BigInt64Array }> {
    const whole = this.parts.length === 1 ? this.parts[0].frozen : null;
    if (whole && 'f32' in whole) return { table: whole.f32, at: int64s(indices.length, (i) => indices[i]) };
    const slot = new Map<number, number>();
    for (const i of indices) if (!slot.has(i)) slot.set(i, slot.size);
    const rows = [...slot.keys()];
    const table = this.host.half
      ? await this.store.own(this.rt.tensor('float32', gatherRows(this.host, rows), [rows.length, this.host.shape[1]]))
      : await this.store.own(await this.gather(rows, 'weights'));
    return { table, at: int64s(indices.length, (i) => slot.get(indices[i])!) };
  }

  /**
   * Rows [v0, v1) in float32, for one vocabulary chunk of the LM head. A stored chunk (or the whole
   * table) is lent as it is, widened first when stored in 2 bytes (counted as weights); other rows
   * are widened on the host from 2 bytes (weights), viewed on the host's table without a device,
   * else copied out of the chunks that hold them (counted as activations). release() after use.
   */
  async rows(v0: number, v1: number): Promise<Tensor> {
    const C = this.host.shape[1];
    const part = this.parts.find((p) => p.start === v0 && p.end === v1);
    if (part) return this.store.widen(part.frozen);
    if (this.host.half) return this.store.own(this.rt.tensor('float32', widenHalf((this.host.data as Uint16Array).subarray(v0 * C, v1 * C), this.host.half), [v1 - v0, C]));
    if (!this.rt.onDevice) return this.rt.tensor('float32', (this.host.data as Float32Array).subarray(v0 * C, v1 * C), [v1 - v0, C]);
    const range = new Int32Array(v1 - v0);
    for (let i = 0; i < range.length; i++) range[i] = v0 + i;
    const t = await this.gather(range, 'activations');
    this.copies.add(t);
    return t;
  }

  /** Gives back what rows() lent. */
  release(t: Tensor): void {
    if (this.copies.delete(t)) this.rt.dispose(t);
    else this.store.release([t]);
  }

  /**
   * Rows of a float32 table as one (N, C) tensor on the device, counted as `kind`: gathered from the
   * first chunk that holds any of them, then each later chunk's rows put in their places.
   */
  private async gather(rows: ArrayLike<number>, kind: MemoryKind): Promise<Tensor> {
    const g = tableGraphs(this.host.shape[1]);
    const N = rows.length;
    let acc: Tensor | null = null;
    for (const p of this.parts) {
      const inside = new Uint8Array(N);
      for (let i = 0; i < N; i++) inside[i] = rows[i] >= p.start && rows[i] < p.end ? 1 : 0;
      if (!inside.includes(1) || !('f32' in p.frozen)) continue;
      const local = int64s(N, (i) => Math.min(Math.max(rows[i] - p.start, 0), p.end - p.start - 1));
      const feeds: Record<string, Tensor> = { table: p.frozen.f32, rows: this.rt.tensor('int64', local, [N]) };
      if (acc) Object.assign(feeds, { acc, mask: this.rt.tensor('bool', inside, [N, 1]) });
      const out: Tensor = (await this.rt.run(acc ? g.merge : g.rows, feeds)).out;
      this.rt.dispose(acc ?? undefined);
      this.rt.memory.track(out, kind);
      acc = out;
    }
    return acc!;
  }

  dispose(): void {
    for (const p of this.parts) this.store.dispose(p.frozen);
    this.parts.length = 0;
  }
}
