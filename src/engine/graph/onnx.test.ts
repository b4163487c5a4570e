// Output names given through Identity are folded into the nodes that compute the values, so no
// Identity reaches onnxruntime (whose WebGPU provider has no kernel for it) except an upload's.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { foldOutputIdentities } from './onnx';
import { nodeRuntime } from '../../../test/helpers/runtime';

describe('foldOutputIdentities', () => {
  it('renames the computing node, keeps its other consumers, and the outputs stay the same', async () => {
    const b = new GraphBuilder('fold');
    const x = b.input('x', 'float32', [3]);
    const m = b.mul(x, x); // named as an output and read again below
    b.output(m, 'm_new');
    b.output(b.add(m, x), 'p_new');
    b.output(m, 'm_copy'); // the same value under a second name: this one stays an Identity
    const g = b.build();
    expect(g.nodes.filter((n) => n.op === 'Identity')).toHaveLength(3);

    const folded = foldOutputIdentities(g);
    const identities = folded.filter((n) => n.op === 'Identity');
    expect(identities).toHaveLength(1);
    expect(identities[0]).toMatchObject({ inputs: ['m_new'], outputs: ['m_copy'] });
    expect(folded.find((n) => n.op === 'Mul')!.outputs).toEqual(['m_new']);
    expect(folded.find((n) => n.op === 'Add')!.inputs).toEqual(['m_new', 'x']);

    const rt = await nodeRuntime();
    const out = await rt.run(g, { x: rt.tensor('float32', Float32Array.of(1, -2, 3), [3]) });
    expect(Array.from((await rt.read(out.m_new)) as Float32Array)).toEqual([1, 4, 9]);
    expect(Array.from((await rt.read(out.p_new)) as Float32Array)).toEqual([2, 2, 12]);
    expect(Array.from((await rt.read(out.m_copy)) as Float32Array)).toEqual([1, 4, 9]);
  });

  it('keeps the Identity of a graph input (an upload)', () => {
    const b = new GraphBuilder('upload');
    b.output(b.op1('Identity', [b.input('x', 'float32', ['n'])]), 'y');
    const g = b.build();
    // The Identity's own output is renamed 'y' (producer → output); there is nothing to fold into.
    const ids = foldOutputIdentities(g).filter((n) => n.op === 'Identity');
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((n) => n.inputs[0] === 'x' || g.outputs.some((o) => o.name === n.inputs[0]))).toBe(true);
  });
});
