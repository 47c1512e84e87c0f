/**
 * Checkpoints: the tensors of modules and optimisers plus JSON state (counters,
 * random streams, the iteration) in one file, written to a temporary name and
 * renamed so that an interrupted write never replaces a good checkpoint.
 *
 * Layout: "ADVSSLCK" (8 bytes), a u32 little-endian header length, the JSON
 * header ({ state, tensors: [{ name, shape, offset }] }), then float32 data.
 * @module
 */
import { noGrad } from "../autograd/tape.ts";
import { persistent, scope, Tensor } from "../autograd/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import type { Rng } from "../ops/random.ts";
import { UserError } from "../util/errors.ts";
import type { Module } from "./module.ts";
import type { Adam } from "./optim.ts";

const MAGIC = "ADVSSLCK";

/** What a checkpoint holds. */
export interface Checkpointable {
  modules: Record<string, Module>;
  optimizers: Record<string, Adam>;
  rngs: Record<string, Rng>;
}

function namedTensors(c: Checkpointable): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  for (const [name, m] of Object.entries(c.modules)) {
    for (const [p, t] of [...m.namedParameters(), ...m.namedBuffers()]) {
      out.push([`${name}/${p}`, t]);
    }
  }
  return out;
}

/** Writes a checkpoint of `c` and `state` (JSON) to `path` atomically. */
export async function saveCheckpoint(
  path: string,
  c: Checkpointable,
  state: unknown,
): Promise<void> {
  const tensors = namedTensors(c);
  const optimizers: Record<string, unknown> = {};
  for (const [name, opt] of Object.entries(c.optimizers)) {
    const s = opt.exportState();
    optimizers[name] = { step: s.step, beta1Power: s.beta1Power, beta2Power: s.beta2Power };
    s.moments.forEach((mv, i) => {
      if (mv) tensors.push([`optim/${name}/${i}/m`, mv.m], [`optim/${name}/${i}/v`, mv.v]);
    });
  }
  const rngs = Object.fromEntries(Object.entries(c.rngs).map(([k, r]) => [k, r.exportState()]));
  let offset = 0;
  const entries = tensors.map(([name, t]) => {
    const e = { name, shape: t.shape, offset };
    offset += t.size;
    return e;
  });
  const header = new TextEncoder().encode(
    JSON.stringify({ state, optimizers, rngs, tensors: entries }),
  );
  const data = new Float32Array(offset);
  for (let i = 0; i < tensors.length; i++) data.set(tensors[i][1].toArray(), entries[i].offset);
  const prefix = new Uint8Array(12);
  prefix.set(new TextEncoder().encode(MAGIC));
  new DataView(prefix.buffer).setUint32(8, header.length, true);
  const tmp = `${path}.tmp-${Deno.pid}`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    for (const part of [prefix, header, new Uint8Array(data.buffer)]) {
      let written = 0;
      while (written < part.length) written += await f.write(part.subarray(written));
    }
    await f.syncData();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}

/** Reads a checkpoint into `c` (shapes must match) and returns its JSON state. */
export async function loadCheckpoint(
  path: string,
  c: Checkpointable,
  backend: Backend,
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new UserError(`Cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string) => new UserError(`Cannot read checkpoint ${path}: ${why}`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw bad("not an advssl checkpoint");
  }
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + headerLen > bytes.length) throw bad("truncated header");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLen)));
  const dataStart = 12 + headerLen;
  const numbers = (offset: number, size: number): Float32Array => {
    const start = dataStart + offset * 4;
    if (start + size * 4 > bytes.length) throw bad("truncated data");
    return new Float32Array(bytes.slice(start, start + size * 4).buffer);
  };
  const saved = new Map<string, { shape: number[]; offset: number }>(
    header.tensors.map((e: { name: string; shape: number[]; offset: number }) => [e.name, e]),
  );
  const fill = (name: string, t: Tensor) => {
    const e = saved.get(name);
    if (!e) throw bad(`it has no tensor '${name}'`);
    if (e.shape.join(",") !== t.shape.join(",")) {
      throw bad(`'${name}' has shape [${e.shape}], the model [${t.shape}]`);
    }
    backend.write(t.storage, numbers(e.offset, t.size));
  };
  for (const [name, t] of namedTensors(c)) fill(name, t);
  for (const [name, opt] of Object.entries(c.optimizers)) {
    const counters = header.optimizers[name];
    if (!counters) throw bad(`it has no optimiser '${name}'`);
    noGrad(() =>
      scope(() => {
        const moments = opt.params.map((p, i) => {
          if (!saved.has(`optim/${name}/${i}/m`)) return null;
          const m = Tensor.empty(backend, p.shape);
          const v = Tensor.empty(backend, p.shape);
          fill(`optim/${name}/${i}/m`, m);
          fill(`optim/${name}/${i}/v`, v);
          return { m, v };
        });
        persistent(() => opt.importState({ ...counters, moments }));
      })
    );
  }
  for (const [name, r] of Object.entries(c.rngs)) {
    if (!header.rngs[name]) throw bad(`it has no random stream '${name}'`);
    r.importState(header.rngs[name]);
  }
  return header.state;
}
