/**
 * Checkpoints: the tensors of modules and optimisers plus JSON state (counters,
 * random streams, the iteration) in one file, written to a temporary name and
 * renamed so that an interrupted write never replaces a good checkpoint.
 *
 * Layout (format 2): "ADVSSLK2" (8 bytes), a u32 little-endian header
 * length, the JSON header ({ state, optimizers, rngs, tensors: [{ name,
 * shape, offset }] }), the float32 data, then the SHA-256 (32 bytes) of
 * everything before it. A checkpoint whose checksum does not match, or whose
 * tensors hold a NaN or an infinity, is refused on load; weights that are
 * not finite are refused on save (the run diverged).
 * @module
 */
import { createHash } from "node:crypto";
import { noGrad } from "../autograd/tape.ts";
import { persistent, scope, Tensor } from "../autograd/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import type { Rng } from "../ops/random.ts";
import { DivergedError, UserError } from "../util/errors.ts";
import { fileError, tempPath } from "../util/fs.ts";
import type { Module } from "./module.ts";
import type { Adam } from "./optim.ts";

const MAGIC = "ADVSSLK2";
/** The magic of format 1 (no checksum), recognised to say why it is refused. */
const MAGIC_V1 = "ADVSSLCK";
const PREFIX = 12;
const DIGEST = 32;

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

/** The random streams of `c`: its own and those of its modules' layers (dropout, noise). */
function namedRngs(c: Checkpointable): [string, Rng][] {
  const out = Object.entries(c.rngs);
  for (const [name, m] of Object.entries(c.modules)) {
    for (const [p, r] of m.namedRngs()) out.push([`${name}/${p}`, r]);
  }
  return out;
}

/**
 * The name of the first tensor holding a NaN or an infinity, or null. On
 * the tensors' device: 0 * x is 0 for every finite x and NaN otherwise, so
 * the sum of 0 * x over all tensors is 0 exactly when all are finite.
 */
export function firstNonFinite(tensors: [string, Tensor][]): string | null {
  const zeroSum = (t: Tensor): Tensor => {
    const be = t.backend;
    const zeroed = Tensor.empty(be, t.shape);
    be.affine(zeroed.storage, t.storage, 0, 0, t.size);
    const s = Tensor.empty(be, [1]);
    be.sum(s.storage, zeroed.storage, t.size, 1);
    return s;
  };
  return scope(() => {
    if (tensors.length === 0) return null;
    const total = Tensor.zeros(tensors[0][1].backend, [1]);
    for (const [, t] of tensors) t.backend.axpby(total.storage, 1, zeroSum(t).storage, 1, 1);
    if (total.item() === 0) return null;
    return tensors.find(([, t]) => zeroSum(t).item() !== 0)?.[0] ?? tensors[0][0];
  });
}

/** The tensors of `c` with the optimisers' moments, and the optimisers' counters. */
function checkpointTensors(c: Checkpointable): {
  tensors: [string, Tensor][];
  optimizers: Record<string, unknown>;
} {
  const tensors = namedTensors(c);
  const optimizers: Record<string, unknown> = {};
  for (const [name, opt] of Object.entries(c.optimizers)) {
    const s = opt.exportState();
    optimizers[name] = { step: s.step, beta1Power: s.beta1Power, beta2Power: s.beta2Power };
    s.moments.forEach((mv, i) => {
      if (mv) tensors.push([`optim/${name}/${i}/m`, mv.m], [`optim/${name}/${i}/v`, mv.v]);
    });
  }
  return { tensors, optimizers };
}

/**
 * Writes a checkpoint of `c` and `state` (JSON) to `path` atomically. Throws
 * a DivergedError (and writes nothing) when a tensor is not finite, and a
 * UserError naming the file when the file system fails (the temporary file
 * is removed; a checkpoint already there stays).
 */
export async function saveCheckpoint(
  path: string,
  c: Checkpointable,
  state: unknown,
): Promise<void> {
  const { tensors, optimizers } = checkpointTensors(c);
  const bad = firstNonFinite(tensors);
  if (bad) throw new DivergedError(`'${bad}' holds NaN or infinite values`);
  const rngs = Object.fromEntries(namedRngs(c).map(([k, r]) => [k, r.exportState()]));
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
  const prefix = new Uint8Array(PREFIX);
  prefix.set(new TextEncoder().encode(MAGIC));
  new DataView(prefix.buffer).setUint32(8, header.length, true);
  const body = new Uint8Array(data.buffer);
  const hash = createHash("sha256").update(prefix).update(header).update(body).digest();
  const tmp = tempPath(path);
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      for (const part of [prefix, header, body, new Uint8Array(hash)]) {
        let written = 0;
        while (written < part.length) written += await f.write(part.subarray(written));
      }
      await f.syncData();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw fileError(e, `Cannot write checkpoint ${path}`);
  }
}

/** The JSON header of a checkpoint. */
interface CheckpointHeader {
  state: unknown;
  optimizers: Record<string, { step: number; beta1Power: number; beta2Power: number }>;
  rngs: Record<string, unknown>;
  tensors: { name: string; shape: number[]; offset: number }[];
}

/**
 * The checked header and tensor bytes of a checkpoint file, without loading
 * it into a model (for tests and tools that compare runs).
 */
export async function readCheckpoint(
  path: string,
): Promise<{ header: CheckpointHeader; data: Uint8Array }> {
  const bytes = await Deno.readFile(path);
  const { header, dataStart, end } = readCheckpointFile(path, bytes);
  return { header, data: bytes.subarray(dataStart, end) };
}

/** The checked header and data of a checkpoint file. */
function readCheckpointFile(path: string, bytes: Uint8Array) {
  const bad = (why: string) => new UserError(`Cannot read checkpoint ${path}: ${why}`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic === MAGIC_V1) {
    throw bad(
      "it was written by an older advssl (format 1, without a checksum); start the run over with --overwrite",
    );
  }
  if (bytes.length < PREFIX + DIGEST || magic !== MAGIC) throw bad("not an advssl checkpoint");
  const end = bytes.length - DIGEST;
  const hash = createHash("sha256").update(bytes.subarray(0, end)).digest();
  if (!new Uint8Array(hash).every((b, i) => b === bytes[end + i])) {
    throw bad("its checksum does not match (the file is corrupt or truncated)");
  }
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (PREFIX + headerLen > end) throw bad("truncated header");
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + headerLen)));
  } catch {
    throw bad("its header is not valid JSON");
  }
  const dataStart = PREFIX + headerLen;
  const numbers = (offset: number, size: number): Float32Array => {
    const start = dataStart + offset * 4;
    if (start + size * 4 > end) throw bad("truncated data");
    return new Float32Array(bytes.slice(start, start + size * 4).buffer);
  };
  return { header, numbers, bad, dataStart, end };
}

/**
 * Reads a checkpoint into `c` (shapes must match) and returns its JSON
 * state; a corrupt file or values that are not finite are a UserError
 * naming the file.
 */
export async function loadCheckpoint(
  path: string,
  c: Checkpointable,
  backend: Backend,
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw fileError(e, `Cannot read checkpoint ${path}`);
  }
  const { header, numbers, bad } = readCheckpointFile(path, bytes);
  const saved = new Map(header.tensors.map((e) => [e.name, e]));
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
  const nonFinite = firstNonFinite(checkpointTensors(c).tensors);
  if (nonFinite) throw bad(`'${nonFinite}' holds NaN or infinite values`);
  for (const [name, r] of namedRngs(c)) {
    if (!header.rngs[name]) throw bad(`it has no random stream '${name}'`);
    r.importState(header.rngs[name] as Parameters<Rng["importState"]>[0]);
  }
  return header.state;
}
