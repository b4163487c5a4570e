// Host-side shortcuts of the step, each against the plain computation it replaces: int64 index
// data written as 32-bit words, and rotary tables of kept rows copied out of cached tables.
import { describe, expect, it } from 'vitest';
import { int64s } from '../src/engine/graph/ir';
import { ropeTables } from '../src/engine/model/rope';
import { DeviceModel } from '../src/engine/train/device-model';
import { nodeRuntime } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

describe('int64 index data', () => {
  it('holds the same values as one BigInt per value, negative ones included', () => {
    const xs = [0, 1, 7, 65_535, 2 ** 31 - 1, -1, -(2 ** 31), 123_456];
    expect(Array.from(int64s(xs.length, (i) => xs[i]))).toEqual(xs.map(BigInt));
  });
});

describe('rotary tables of kept rows', () => {
  it('are bit for bit the tables computed for those positions, past the cached length and after the rope settings change', async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/llama-gqa');
    const cfg = f.model.config;
    const dm = await DeviceModel.upload(rt, f.model);
    const check = async (positions: number[]) => {
      const got = (await dm.ropeFor(positions))!;
      const want = ropeTables(positions, cfg.headDim, cfg.rope!);
      expect(Array.from((await rt.read(got.cos)) as Float32Array)).toEqual(Array.from(want.cos));
      expect(Array.from((await rt.read(got.sin)) as Float32Array)).toEqual(Array.from(want.sin));
    };
    await check([0, 3, 4, 17, 1000]);
    await check([5, 2500, 2501]); // past the first cached 1,024 positions
    cfg.rope = { ...cfg.rope!, linearFactor: 2 };
    await check([0, 3, 4, 17, 1000]);
  });
});
