// Serialises the IR to an ONNX ModelProto. The message layout is the subset of onnx.proto
// (field numbers as published by ONNX) that an inference session needs.
import protobuf from 'protobufjs/light.js';
import { ONNX_DTYPE, type AttrValue, type Constant, type Graph, type ValueInfo } from './ir';

const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } },
        },
        TypeProtoTensor: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
        },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelProto = root.lookupType('onnx.ModelProto');

export const OPSET = 18;

/** IR ops that are another ONNX op at run time (they differ only for autodiff). */
const LOWERED: Record<string, string> = { StopGradient: 'Identity' };

// AttributeProto.AttributeType
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 };

function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; pass {float: ${v}}`);
    return { name, type: ATTR.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  return { name, type: ATTR.FLOATS, floats: v.floats };
}

function valueInfo(v: ValueInfo): object {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function initializer(c: Constant): object {
  return {
    name: c.info.name,
    dims: c.info.shape.map(Number),
    dataType: ONNX_DTYPE[c.info.dtype],
    rawData: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength),
  };
}

/**
 * The graph's nodes with each output-naming Identity folded into the node that computes its
 * value: that node's output takes the output's name, and its other consumers read it there.
 * onnxruntime removes such an Identity itself only while the value has no other consumer, and
 * its WebGPU provider has no Identity kernel: each one left would run on the CPU, reading its
 * tensor back from the GPU inside the run. An Identity of a graph input (an upload) stays.
 */
export function foldOutputIdentities(g: Graph): Graph['nodes'] {
  const outputs = new Set(g.outputs.map((o) => o.name));
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const rename = new Map<string, string>();
  const dropped = new Set<number>();
  g.nodes.forEach((n, i) => {
    if (n.op !== 'Identity' || !outputs.has(n.outputs[0])) return;
    const src = n.inputs[0];
    // Another output, an input or a constant keeps its name; each value is renamed once.
    if (outputs.has(src) || !producer.has(src) || rename.has(src)) return;
    rename.set(src, n.outputs[0]);
    dropped.add(i);
  });
  if (rename.size === 0) return g.nodes;
  const to = (name: string) => rename.get(name) ?? name;
  return g.nodes.filter((_, i) => !dropped.has(i)).map((n) => ({ ...n, inputs: n.inputs.map(to), outputs: n.outputs.map(to) }));
}

export function toOnnx(g: Graph): Uint8Array {
  const nodes = foldOutputIdentities(g);
  const model = {
    irVersion: 8,
    producerName: 'lemo-studio',
    producerVersion: '0.1',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: g.name,
      node: nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        opType: LOWERED[n.op] ?? n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
      })),
      initializer: g.constants.map(initializer),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
