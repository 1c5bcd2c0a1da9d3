// Host copies of tensors. CPU tensors expose their data directly; WebGPU tensors are read back by
// running them through a tiny Identity session whose outputs land on the CPU (getData() on a GPU
// tensor aborts the process in onnxruntime-node 1.30).
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType } from '../onnx/onnx-proto';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

type HostType = 'float32' | 'float16' | 'uint8';
const DATA_TYPES = { float32: DataType.FLOAT, float16: DataType.FLOAT16, uint8: DataType.UINT8 } as const;

function identitySession(type: HostType, rank: number): Promise<ort.InferenceSession> {
  const key = `${type}:${rank}`;
  let s = sessions.get(key);
  if (!s) {
    const g = new GraphBuilder('readback');
    const dt = DATA_TYPES[type];
    const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
    g.input('x', dt, dims);
    g.output('x', 'y', dt, dims);
    s = ort.InferenceSession.create(g.build({ '': 17 }).model, { executionProviders: ['webgpu'] });
    sessions.set(key, s);
  }
  return s;
}

/** The tensor's values on the host (Float32Array, or Uint16Array fp16 bits). */
export async function toHost(t: ort.Tensor): Promise<Float32Array | Uint16Array> {
  return (await hostTensor(t)).data as Float32Array | Uint16Array;
}

/** A host copy of any cache tensor (float32, fp16 bits or uint8 codes) as a CPU tensor of the same dims. */
export async function hostTensor(t: ort.Tensor): Promise<ort.Tensor> {
  if (t.location === 'cpu') return t;
  if (t.location !== 'gpu-buffer') throw new Error(`cannot read a tensor located at "${t.location}"`);
  const s = await identitySession(t.type as HostType, t.dims.length);
  return (await s.run({ x: t })).y!;
}
