import { describe, expect, it } from 'vitest';
import { downsample, memoryCsv, memoryPoints, perStep, stepStarts, type StepSample } from './memory-series';

const bytes = (weights: number, activations: number, transient = 0) => ({ weights, adapter: 10, optimizer: 20, gradients: 0, activations, offloaded: 0, transient });
const samples: StepSample[] = [
  { t: 1000, phase: 'fwd', bytes: bytes(100, 5), step: 1 },
  { t: 1500, phase: 'bwd', bytes: bytes(100, 2, 7), step: 1, device: 300 },
  { t: 2000, phase: 'adamw', bytes: bytes(100, 0), step: 1 },
  { t: 2600, phase: 'fwd', bytes: bytes(100, 6), step: 2 },
  { t: 3000, phase: 'adamw', bytes: bytes(100, 0), step: 2 },
];

describe('memory series', () => {
  it('counts seconds from the first sample and sums the kinds', () => {
    const p = memoryPoints(samples);
    expect(p.map((x) => x.x)).toEqual([0, 0.5, 1, 1.6, 2]);
    expect(p[1].total).toBe(100 + 10 + 20 + 2 + 7);
    expect(p[1].device).toBe(300);
    expect(p.map((x) => x.i)).toEqual([0, 1, 2, 3, 4]);
  });

  it('summarises each step: weights at its end, the activations high-water mark and end', () => {
    expect(perStep(memoryPoints(samples))).toEqual([
      { step: 1, samples: 3, weights: 100, activationsMax: 5, activationsEnd: 0, offloadedMax: 0, storedMax: 0, totalMax: 139, deviceMax: 300 },
      { step: 2, samples: 2, weights: 100, activationsMax: 6, activationsEnd: 0, offloadedMax: 0, storedMax: 0, totalMax: 136, deviceMax: null },
    ]);
  });

  it('marks the first sample of each step', () => {
    expect(stepStarts(memoryPoints(samples)).map((p) => p.i)).toEqual([0, 3]);
  });

  it('downsamples by keeping the highest total of each bucket', () => {
    const p = memoryPoints(samples);
    expect(downsample(p, 10)).toBe(p);
    expect(downsample(p, 3).map((x) => x.i)).toEqual([1, 3, 4]);
  });

  it('writes every sample as a CSV row', () => {
    const rows = memoryCsv(memoryPoints(samples)).trim().split('\n');
    expect(rows[0]).toBe('sample,step,seconds,phase,weights_bytes,adapter_bytes,optimizer_bytes,gradients_bytes,activations_bytes,offloaded_bytes,transient_bytes,total_bytes,device_bytes,stored_bytes');
    expect(rows).toHaveLength(6);
    expect(rows[2]).toBe('1,1,0.500,bwd,100,10,20,0,2,0,7,139,300,0');
    expect(rows[1].endsWith(',,0')).toBe(true);
  });

  it('draws offloaded activations as their own kind, and reads samples stored without it as zero', () => {
    const old = { t: 0, phase: 'fwd', step: 1, bytes: { weights: 100, adapter: 10, optimizer: 20, gradients: 0, activations: 5, transient: 0 } } as unknown as StepSample;
    const parked = { t: 500, phase: 'fwd', step: 1, bytes: { ...bytes(100, 1), offloaded: 4 } };
    const p = memoryPoints([old, parked]);
    expect(p[0].offloaded).toBe(0);
    expect(p[0].total).toBe(135);
    expect(p[1].offloaded).toBe(4);
    expect(p[1].total).toBe(135);
    expect(perStep(p)[0].offloadedMax).toBe(4);
  });

  it('keeps what disk offload held in the browser’s storage apart from memory: not in the total, its high-water mark per step', () => {
    const onDisk = [
      { t: 0, phase: 'fwd', step: 1, bytes: bytes(100, 1), stored: 40 },
      { t: 100, phase: 'head', step: 1, bytes: bytes(100, 1), stored: 90 },
      { t: 200, phase: 'bwd', step: 1, bytes: bytes(100, 2), stored: 0 },
    ];
    const p = memoryPoints(onDisk);
    expect(p.map((x) => x.total)).toEqual([131, 131, 132]);
    expect(perStep(p)[0].storedMax).toBe(90);
    expect(memoryCsv(p).trim().split('\n')[2]).toBe('1,1,0.100,head,100,10,20,0,1,0,0,131,,90');
    expect(memoryPoints(samples).every((x) => x.stored === 0)).toBe(true);
  });
});
