/**
 * Generates src/backend/abi.ts from the C headers (native/advssl.h and
 * kernels/advssl_cuda.h), so a kernel's signature is written once, in C:
 * the Deno.dlopen symbol tables, the enums, one typed method per kernel on
 * the abstract class every backend extends, and the host kernels over typed
 * arrays. build.ts writes the file; test/abi_test.ts fails when it is stale.
 * The header's comment says what each macro and type becomes.
 * @module
 */
import { ROOT } from "./library.ts";

/** The headers the bindings come from, relative to the root. */
export const ABI_HEADERS = ["native/advssl.h", "kernels/advssl_cuda.h"];

/** Where the generated bindings go, relative to the root. */
export const ABI_FILE = "src/backend/abi.ts";

type Kind = "runtime" | "kernel" | "cpu" | "host";

interface Param {
  name: string;
  /** The C type without qualifiers, e.g. "real *", "int", "adv_flag". */
  type: string;
  optional: boolean;
  /** ADV_HOST: a host array, whichever library (a typed array, not a Storage). */
  host: boolean;
}

interface Decl {
  header: string;
  kind: Kind;
  name: string;
  result: string;
  params: Param[];
  doc: string;
}

interface Enum {
  /** The typedef's name, e.g. adv_activation. */
  name: string;
  doc: string;
  values: [string, number][];
}

const KINDS: Record<string, Kind> = {
  ADV_RUNTIME: "runtime",
  ADV_KERNEL: "kernel",
  ADV_CPU_KERNEL: "cpu",
  ADV_HOST_KERNEL: "host",
};

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** A C parameter's TypeScript name (C's `in` is a reserved word there). */
const paramName = (s: string) => s === "in" ? "input" : camel(s);
const pascal = (s: string) => camel(s).replace(/^./, (c) => c.toUpperCase());
/** adv_activation -> Activation; the TypeScript name of an enum typedef. */
const enumName = (typedef: string) => pascal(typedef.replace(/^adv_/, ""));
/** adv_conv2d_backward_data -> conv2dBackwardData. */
const methodName = (fn: string) => camel(fn.replace(/^adv_/, ""));

/** The text of a block comment, without its markers and leading stars. */
function commentText(c: string): string {
  return c.replace(/^\/\*+|\*+\/$/g, "").split("\n")
    .map((l) => l.replace(/^\s*\*?\s?/, "").trimEnd())
    .join("\n").replace(/^-+\s*|\s*-+$/gm, "").trim();
}

function parseParam(text: string): Param {
  const optional = /\bADV_OPTIONAL\b/.test(text);
  const host = /\bADV_HOST\b/.test(text);
  const clean = text.replace(/\bADV_OPTIONAL\b|\bADV_HOST\b|\bconst\b/g, " ")
    .replace(/\s+/g, " ").trim();
  const m = clean.match(/^(\w+)\s*(\*?)\s*(\w+)$/);
  if (!m) throw new Error(`Cannot parse the parameter '${text}'`);
  return { name: m[3], type: m[2] ? `${m[1]} *` : m[1], optional, host };
}

/** The declarations and enums of one header, each with the comment above it. */
export function parseHeader(text: string, header: string): { decls: Decl[]; enums: Enum[] } {
  const decls: Decl[] = [];
  const enums: Enum[] = [];
  let doc = "";
  const token =
    /(\/\*[\s\S]*?\*\/)|typedef int (adv_\w+);\s*enum \2_values \{([^}]*)\};|(ADV_RUNTIME|ADV_KERNEL|ADV_CPU_KERNEL|ADV_HOST_KERNEL)\s+([\w\s]*?\*?)\s*(adv_\w+)\(([^)]*)\);/g;
  for (const m of text.matchAll(token)) {
    if (m[1]) {
      doc = commentText(m[1]);
    } else if (m[2]) {
      const prefix = `ADV_${m[2].replace(/^adv_/, "").toUpperCase()}_`;
      const values = m[3].split(",").map((v) => v.trim()).filter((v) => v).map((v) => {
        const [k, n] = v.split("=").map((x) => x.trim());
        if (!k.startsWith(prefix)) throw new Error(`Cannot name ${k}: expected ${prefix}*`);
        return [camel(k.slice(prefix.length).toLowerCase()), Number(n)] as [string, number];
      });
      enums.push({ name: m[2], doc, values });
      doc = "";
    } else {
      const params = m[7].trim() === "void" ? [] : m[7].split(",").map(parseParam);
      const result = m[5].replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
      decls.push({ header, kind: KINDS[m[4]], name: m[6], result, params, doc });
    }
  }
  return { decls, enums };
}

/**
 * The Deno FFI type of a parameter ("real" stays symbolic: f32 or f64 by
 * library): library memory is a pointer, host arrays are buffers.
 */
function ffiType(p: Param, kind: Kind, enums: Set<string>): string {
  const type = p.type;
  if (type.endsWith("*")) {
    if (kind === "host" || p.host) return "buffer";
    return type === "real *" || type === "void *" ? "pointer" : "buffer";
  }
  if (type === "real") return "real";
  if (type === "int" || type === "adv_flag" || enums.has(type)) return "i32";
  if (type === "int64_t") return "i64";
  if (type === "uint64_t") return "u64";
  if (type === "void") return "void";
  throw new Error(`Cannot bind the C type '${type}'`);
}

const ARRAYS: Record<string, string> = {
  "int *": "Int32Array",
  "int64_t *": "BigInt64Array",
  "uint8_t *": "Uint8Array",
  "char *": "Uint8Array",
};

/** The TypeScript type of a kernel parameter, and how its value is passed. */
function tsParam(p: Param, kind: Kind, enums: Set<string>): { type: string; pass: string } {
  const n = paramName(p.name);
  const orNull = p.optional ? " | null" : "";
  if (p.type === "real *" && !p.host) {
    if (kind === "host") return { type: `Float32Array${orNull}`, pass: n };
    return { type: `Storage${orNull}`, pass: p.optional ? `${n}?.ptr ?? null` : `${n}.ptr` };
  }
  if (ARRAYS[p.type]) return { type: `${ARRAYS[p.type]}${orNull}`, pass: n };
  if (p.type === "adv_flag") return { type: "boolean", pass: `${n} ? 1 : 0` };
  if (enums.has(p.type)) {
    const e = enumName(p.type);
    return { type: `${e}Kind`, pass: `${e}[${n}]` };
  }
  if (p.type === "uint64_t" || p.type === "int64_t") {
    return { type: "number", pass: `BigInt(${n})` };
  }
  if (p.type === "int" || p.type === "real") return { type: "number", pass: n };
  throw new Error(`Cannot bind the parameter ${p.name} of type '${p.type}'`);
}

const jsdoc = (doc: string, indent: string) =>
  doc
    ? `${indent}/**\n${
      doc.split("\n").map((l) => `${indent} * ${l}`.trimEnd()).join("\n")
    }\n${indent} */\n`
    : "";

function symbolTable(name: string, doc: string, decls: Decl[], enums: Set<string>): string {
  const usesReal = decls.some((d) => d.params.some((p) => ffiType(p, d.kind, enums) === "real"));
  const entries = decls.map((d) => {
    const params = d.params.map((p) => {
      const t = ffiType(p, d.kind, enums);
      return t === "real" ? "real" : `"${t}"`;
    });
    const result = d.result.endsWith("*")
      ? "pointer"
      : ffiType({ name: "", type: d.result, optional: false, host: false }, d.kind, enums);
    return `  ${d.name}: { parameters: [${params.join(", ")}], result: "${result}" },`;
  });
  const arg = usesReal ? "real: R" : "";
  const generic = usesReal ? '<R extends "f32" | "f64">' : "";
  return `${jsdoc(doc, "")}export function ${name}${generic}(${arg}) {\n  return {\n${
    entries.join("\n")
  }\n  } as const;\n}\n`;
}

function methods(decls: Decl[], enums: Set<string>, field: string): string {
  return decls.map((d) => {
    const ps = d.params.map((p) => ({ name: paramName(p.name), ...tsParam(p, d.kind, enums) }));
    const sig = ps.map((p) => `${p.name}: ${p.type}`).join(", ");
    return `${jsdoc(d.doc, "  ")}  ${
      methodName(d.name)
    }(${sig}): void {\n    this.${field}.${d.name}(${ps.map((p) => p.pass).join(", ")});\n  }\n`;
  }).join("\n");
}

/** The bindings' TypeScript source, unformatted. */
export function generate(headers: Record<string, string>): string {
  const decls: Decl[] = [];
  const enums: Enum[] = [];
  for (const [path, text] of Object.entries(headers)) {
    const parsed = parseHeader(text, path);
    decls.push(...parsed.decls);
    enums.push(...parsed.enums);
  }
  const enumSet = new Set(enums.map((e) => e.name));
  const native = (k: Kind) => decls.filter((d) => d.header === ABI_HEADERS[0] && d.kind === k);
  const cuda = decls.filter((d) => d.header === ABI_HEADERS[1]);
  const backendKernels = [...native("kernel"), ...native("cpu")];
  const names = (ds: Decl[]) => ds.map((d) => `"${d.name}"`).join(", ");
  const out: string[] = [
    `// Generated by build.ts from ${ABI_HEADERS.join(" and ")}: do not edit.`,
    "// `deno task build-native` rewrites it; test/abi_test.ts fails when it is stale.",
    "/**",
    " * The native ABI for TypeScript: symbol tables for Deno.dlopen, the enums,",
    " * one method per kernel of both libraries (Kernels, which every backend",
    " * extends) and the host kernels over typed arrays (HostKernels).",
    " * @module",
    " */",
    'import type { Storage } from "./backend.ts";',
    "",
  ];
  for (const e of enums) {
    const n = enumName(e.name);
    out.push(
      `${
        jsdoc(`${e.doc}${e.doc ? " " : ""}Numbered as in ${ABI_HEADERS[0]}.`, "")
      }export const ${n} = { ${e.values.map(([k, v]) => `${k}: ${v}`).join(", ")} } as const;`,
      `/** One of the names of {@linkcode ${n}}. */`,
      `export type ${n}Kind = keyof typeof ${n};`,
      "",
    );
  }
  out.push(
    symbolTable(
      "sharedSymbols",
      "Functions both libraries export: the runtime and every kernel of Kernels.",
      [...native("runtime"), ...native("kernel")],
      enumSet,
    ),
    symbolTable(
      "cpuSymbols",
      "Functions only the CPU library exports (its own kernels and the host kernels).",
      [...native("cpu"), ...native("host")],
      enumSet,
    ),
    symbolTable("cudaSymbols", "The CUDA library's own runtime.", cuda, enumSet),
    "/** The kernels both libraries export. */",
    `export const SHARED_KERNELS = [${names(native("kernel"))}] as const;`,
    "",
    "/** The kernels only the CPU library exports (the CUDA backend runs them through the CPU). */",
    `export const CPU_ONLY_KERNELS = [${names(native("cpu"))}] as const;`,
    "",
    "/** The host kernels of the CPU library (typed arrays). */",
    `export const HOST_KERNELS = [${names(native("host"))}] as const;`,
    "",
    "/** The name of a kernel every backend has a method for. */",
    "export type KernelName = typeof SHARED_KERNELS[number] | typeof CPU_ONLY_KERNELS[number];",
    "",
    "/** The name of a host kernel. */",
    "export type HostKernelName = typeof HOST_KERNELS[number];",
    "",
    "/** A kernel that throws on a failed status. */",
    "export type CheckedKernel = (...args: unknown[]) => void;",
    "",
    "/**",
    " * One method per kernel. `k` holds the library's functions by name, each",
    " * throwing on a failed status; the CPU-only kernels are absent from the",
    " * CUDA library, whose backend overrides their methods.",
    " */",
    "export abstract class Kernels {",
    "  protected abstract readonly k: Readonly<Record<KernelName, CheckedKernel>>;",
    "",
    methods(backendKernels, enumSet, "k"),
    "}",
    "",
    "/** The host kernels of the CPU library (float32), over typed arrays. */",
    "export abstract class HostKernels {",
    "  protected abstract readonly host: Readonly<Record<HostKernelName, CheckedKernel>>;",
    "",
    methods(native("host"), enumSet, "host"),
    "}",
  );
  return out.join("\n") + "\n";
}

/** The headers' current text, by path. */
export function readHeaders(): Record<string, string> {
  return Object.fromEntries(ABI_HEADERS.map((h) => [h, Deno.readTextFileSync(`${ROOT}${h}`)]));
}

/** The bindings as `deno fmt` formats them (deno runs at the root, so deno.json applies). */
export async function generatedAbi(): Promise<string> {
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "ts", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(generate(readHeaders())));
  await writer.close();
  const r = await fmt.output();
  if (!r.success) {
    throw new Error(`Cannot format the generated ABI: ${new TextDecoder().decode(r.stderr)}`);
  }
  return new TextDecoder().decode(r.stdout);
}
