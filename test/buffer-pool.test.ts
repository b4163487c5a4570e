// The GPU buffer pool: reuse by exact size and usage, its cap, and its counts (a stand-in device
// that only makes buffers: outside a page no commands are recorded, so a buffer given back is
// reusable at once).
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/engine/runtime/kernels/pool';

class FakeBuffer {
  destroyed = false;
  constructor(readonly size: number, readonly usage: number) {}
  destroy() { this.destroyed = true; }
}
const device = () => {
  const made: FakeBuffer[] = [];
  return { made, dev: { createBuffer: (d: { size: number; usage: number }) => { const b = new FakeBuffer(d.size, d.usage); made.push(b); return b; } } as unknown as GPUDevice };
};

describe('BufferPool', () => {
  it('lends a buffer given back to the next request of its size and usage, and no other', () => {
    const { made, dev } = device();
    const pool = new BufferPool(dev, 1 << 20);
    const a = pool.take(256, 0x80);
    pool.give(a);
    expect(pool.take(512, 0x80)).not.toBe(a);
    expect(pool.take(256, 0x40)).not.toBe(a);
    expect(pool.take(256, 0x80)).toBe(a);
    expect(pool.counts).toEqual({ made: 3, reused: 1 });
    expect(made.every((b) => !b.destroyed)).toBe(true);
  });

  it('keeps at most its cap free, destroying what a full pool is given, and destroys all it keeps when cleared', () => {
    const { dev } = device();
    const pool = new BufferPool(dev, 1000);
    const [a, b, c] = [pool.take(400, 0x80), pool.take(400, 0x80), pool.take(400, 0x80)] as unknown as FakeBuffer[];
    for (const x of [a, b, c]) pool.give(x as unknown as GPUBuffer);
    expect(pool.keptBytes).toBe(800);
    expect([a.destroyed, b.destroyed, c.destroyed]).toEqual([false, false, true]);
    pool.clear();
    expect(pool.keptBytes).toBe(0);
    expect(a.destroyed && b.destroyed).toBe(true);
    expect(pool.take(400, 0x80)).not.toBe(a);
  });
});
