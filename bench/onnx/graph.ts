/**
 * An ONNX graph under construction and its serialisation (ModelProto, IR 8, opset 17), with the
 * large initializers in one external data file (a protobuf message cannot exceed 2 GiB; the
 * SD-1.5 UNet's weights are 3.4 GB). Enough of the format for bench/onnx/unet.ts.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { ProtoWriter } from './proto.js';

/** An attribute: an integer, a list of integers, a float ({ f }), a list of floats ({ floats }) or a string. */
export type Attr = number | number[] | { f: number } | { floats: number[] } | string;

const FLOAT = 1;
const INT64 = 7;
/** Initializers at least this large go to the external data file. */
const EXTERNAL_MIN_BYTES = 1024;
/** Offsets in the data file are page-aligned, so the runtime may map it. */
const ALIGN = 4096;

interface Initializer {
  name: string;
  dims: number[];
  type: typeof FLOAT | typeof INT64;
  /** Produces the values when the model is written (weights are not held twice meanwhile). */
  data: () => Float32Array | BigInt64Array;
}

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export class OnnxGraph {
  private readonly nodes: Node[] = [];
  private readonly inits: Initializer[] = [];
  private readonly inputs: { name: string; dims: number[]; type: number }[] = [];
  private readonly outputs: { name: string; dims: number[] }[] = [];
  private count = 0;

  /** A float32 graph input. */
  input(name: string, dims: number[]): string {
    this.inputs.push({ name, dims, type: FLOAT });
    return name;
  }

  /** Marks `value` as the float32 graph output `name` (through an Identity when renamed). */
  output(value: string, name: string, dims: number[]): void {
    if (value !== name) this.nodes.push({ op: 'Identity', inputs: [value], outputs: [name], attrs: {} });
    this.outputs.push({ name, dims });
  }

  /** A float32 initializer whose values are produced when the model is written. */
  weight(name: string, dims: number[], data: () => Float32Array): string {
    this.inits.push({ name, dims, type: FLOAT, data });
    return name;
  }

  /** A small float32 constant. */
  floats(values: number[], dims: number[] = [values.length]): string {
    return this.weight(`const_${this.count++}`, dims, () => Float32Array.from(values));
  }

  /** An int64 constant vector (shapes, axes, split sizes). */
  ints(values: number[]): string {
    const name = `const_${this.count++}`;
    this.inits.push({ name, dims: [values.length], type: INT64, data: () => BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  /** Adds a node with one output; returns the output's name. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.opN(op, inputs, 1, attrs)[0];
  }

  /** Adds a node with `n` outputs. */
  opN(op: string, inputs: string[], n: number, attrs: Record<string, Attr> = {}): string[] {
    const outputs = Array.from({ length: n }, (_, i) => `${op.toLowerCase()}_${this.count}_${i}`);
    this.count++;
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /** Number of nodes so far. */
  get size(): number {
    return this.nodes.length;
  }

  /**
   * Writes the model to `path` and its large initializers to `path`.data next to it; returns the
   * number of weight bytes written.
   */
  save(path: string): number {
    const dataPath = `${path}.data`;
    const fd = openSync(dataPath, 'w');
    let offset = 0;
    const graph = new ProtoWriter();
    try {
      for (const init of this.inits) {
        const values = init.data();
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        const expected = init.dims.reduce((a, b) => a * b, 1);
        if (values.length !== expected)
          throw new Error(`ONNX initializer ${init.name}: ${values.length} values for shape [${init.dims.join(', ')}]`);
        const t = new ProtoWriter();
        for (const d of init.dims) t.int(1, d);
        t.int(2, init.type).string(8, init.name);
        if (bytes.length >= EXTERNAL_MIN_BYTES) {
          offset = Math.ceil(offset / ALIGN) * ALIGN;
          writeSync(fd, bytes, 0, bytes.length, offset);
          const entry = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
          t.message(13, entry('location', basename(dataPath)))
            .message(13, entry('offset', String(offset)))
            .message(13, entry('length', String(bytes.length)))
            .int(14, 1);
          offset += bytes.length;
        } else {
          t.bytes(9, bytes.slice());
        }
        graph.message(5, t);
      }
    } finally {
      closeSync(fd);
    }
    for (const n of this.nodes) graph.message(1, encodeNode(n));
    graph.string(2, 'graph');
    for (const i of this.inputs) graph.message(11, valueInfo(i.name, i.dims, i.type));
    for (const o of this.outputs) graph.message(12, valueInfo(o.name, o.dims, FLOAT));
    const model = new ProtoWriter()
      .int(1, 8)
      .string(2, 'tfjs-prompt-to-prompt bench')
      .message(7, graph)
      .message(8, new ProtoWriter().string(1, '').int(2, 17));
    const fdModel = openSync(path, 'w');
    try {
      writeSync(fdModel, model.finish());
    } finally {
      closeSync(fdModel);
    }
    return offset;
  }
}

function valueInfo(name: string, dims: number[], type: number): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, new ProtoWriter().int(1, d));
  const tensor = new ProtoWriter().int(1, type).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensor));
}

function encodeNode(n: Node): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.outputs[0]).string(4, n.op);
  for (const [name, v] of Object.entries(n.attrs)) {
    const a = new ProtoWriter().string(1, name);
    if (typeof v === 'number') a.int(3, v).int(20, 2);
    else if (typeof v === 'string') a.string(4, v).int(20, 3);
    else if (Array.isArray(v)) {
      for (const x of v) a.int(8, x);
      a.int(20, 7);
    } else if ('f' in v) a.float(2, v.f).int(20, 1);
    else {
      for (const x of v.floats) a.float(7, x);
      a.int(20, 6);
    }
    w.message(5, a);
  }
  return w;
}
