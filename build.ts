/**
 * Builds the native kernels: `native/*.c` into `build/libadvssl_cpu_f32.so`
 * (the library the tool runs on) and `build/libadvssl_cpu_f64.so` (the same
 * code in double precision, used by the gradient checks) and, where it finds
 * nvcc with cuDNN and cuBLAS, `kernels/*.cu` into `build/libadvssl_cuda.so`;
 * elsewhere it says why the CUDA library was skipped.
 *
 * A library is rebuilt only when its sources or flags changed: its stamp
 * (src/backend/library.ts) holds the SHA-256 of both and is compared on every
 * call. This is a program, not a library: the backends run it in a
 * subprocess when they find a stale library.
 *
 * Run: `deno task build-native [cpu-f32|cpu-f64|cuda ...] [--force]` (all
 * three by default; --force rebuilds regardless).
 * @module
 */
import { helpText, parseFlags, runMain } from "./src/cli/args.ts";
import { ABI_FILE, generatedAbi } from "./src/backend/abi_gen.ts";
import {
  BUILD_DIR,
  BUILD_DIR_ENV,
  cpuLibraryPath,
  digest,
  type LibraryName,
  libraryPath,
  type Precision,
  readStamp,
  ROOT,
  writeStamp,
} from "./src/backend/library.ts";
import { SetupError } from "./src/util/errors.ts";
import { exists, tempPath, writeAtomic } from "./src/util/fs.ts";

const NATIVE_DIR = `${ROOT}native`;
const KERNELS_DIR = `${ROOT}kernels`;

async function run(
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder();
    return {
      ok: r.success,
      out: text.decode(r.stdout) + text.decode(r.stderr),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { ok: false, out: "" };
    throw e;
  }
}

/** Folders where Debian and other distributions put OpenBLAS's cblas.h. */
const OPENBLAS_INCLUDES = [
  "/usr/include/x86_64-linux-gnu/openblas-pthread",
  "/usr/include/aarch64-linux-gnu/openblas-pthread",
  "/usr/include/openblas",
  "/usr/include",
];

async function findCompiler(): Promise<string> {
  const cc = Deno.env.get("CC") ?? "gcc";
  const r = await run(cc, ["--version"]);
  if (!r.ok) {
    throw new SetupError(
      `Cannot build the native kernels: no C compiler '${cc}' found (install Debian's gcc: apt-get install -y gcc, or set CC)`,
    );
  }
  return cc;
}

/**
 * OpenBLAS from somewhere other than the system, for machines that lack it
 * (scripts/gpu-check.sh unpacks Debian's packages there): OPENBLAS_INCLUDE,
 * the folder of cblas.h, and OPENBLAS_LIB, colon-separated library folders.
 */
function openBlasOverride(): { include?: string; libs: string[] } {
  const include = Deno.env.get("OPENBLAS_INCLUDE") || undefined;
  const libs = (Deno.env.get("OPENBLAS_LIB") ?? "").split(":").filter((d) => d);
  return { include, libs };
}

function findOpenBlasInclude(): string {
  const own = openBlasOverride().include;
  const inc = [...(own ? [own] : []), ...OPENBLAS_INCLUDES].find((d) =>
    exists(`${d}/cblas.h`) && exists(`${d}/openblas_config.h`)
  );
  if (!inc) {
    throw new SetupError(
      "Cannot build the native kernels: OpenBLAS headers (cblas.h, openblas_config.h) not found (install Debian's libopenblas-dev: apt-get install -y libopenblas-dev)",
    );
  }
  return inc;
}

/**
 * oneDNN (Debian's libdnnl-dev), which the float32 library's convolutions run
 * on; DNNL_INCLUDE (the folder of dnnl.h) and DNNL_LIB (colon-separated
 * library folders) point elsewhere, as scripts/gpu-check.sh does with the
 * packages it carries. Float64 builds keep im2col: oneDNN has no doubles.
 */
function dnnlOverride(): { include?: string; libs: string[] } {
  const include = Deno.env.get("DNNL_INCLUDE") || undefined;
  const libs = (Deno.env.get("DNNL_LIB") ?? "").split(":").filter((d) => d);
  return { include, libs };
}

const DNNL_INCLUDES = ["/usr/include", "/usr/local/include"];

/** The folder of dnnl.h, or "" where there is none (the build then says what to install). */
function dnnlInclude(): string {
  const own = dnnlOverride().include;
  return [...(own ? [own] : []), ...DNNL_INCLUDES].find((d) => exists(`${d}/dnnl.h`)) ?? "";
}

const DNNL_MISSING =
  "Cannot build the native kernels: oneDNN not found (dnnl.h and libdnnl; install Debian's libdnnl-dev: apt-get install -y libdnnl-dev)";

function sources(): string[] {
  return [...Deno.readDirSync(NATIVE_DIR)]
    .filter((e) => e.isFile && /\.(c|h)$/.test(e.name))
    .map((e) => `${NATIVE_DIR}/${e.name}`)
    .sort();
}

/**
 * AddressSanitizer and UndefinedBehaviorSanitizer, every finding fatal: CI's
 * second build (load it with LD_PRELOAD of libasan, see .ci/run).
 */
const SANITIZE_FLAGS = [
  "-fsanitize=address,undefined",
  "-fno-sanitize-recover=undefined",
  "-fno-omit-frame-pointer",
  "-g",
];

function compileArgs(
  precision: Precision,
  include: string,
  out: string,
  sanitize: boolean,
): string[] {
  const cfiles = sources().filter((f) => f.endsWith(".c"));
  const dnnl = precision === "f32";
  return [
    "-O3",
    ...(sanitize ? SANITIZE_FLAGS : []),
    // Nothing reads errno, and without it sqrt vectorises.
    "-fno-math-errno",
    "-march=native",
    "-std=c11",
    "-fPIC",
    "-shared",
    "-fopenmp",
    "-fvisibility=hidden",
    "-Wall",
    "-Wextra",
    "-Werror=implicit-function-declaration",
    ...(precision === "f64" ? ["-DADV_DOUBLE"] : []),
    ...(dnnl ? ["-DADV_DNNL", `-I${dnnlInclude()}`] : []),
    `-I${include}`,
    `-I${NATIVE_DIR}`,
    ...cfiles,
    "-o",
    out,
    // A kernel declared in the ABI but missing would otherwise only fail at dlopen.
    "-Wl,--no-undefined",
    ...openBlasOverride().libs.flatMap((d) => [`-L${d}`, `-Wl,-rpath,${d}`]),
    ...(dnnl ? dnnlOverride().libs.flatMap((d) => [`-L${d}`, `-Wl,-rpath,${d}`]) : []),
    ...(dnnl ? ["-ldnnl"] : []),
    "-lopenblas",
    "-lm",
  ];
}

/** Paths relative to the root, as stamps hold them. */
const relative = (files: string[]) => files.map((f) => f.slice(ROOT.length));

/** What a CPU library is built from: its flags and input files. */
function cpuRecipe(
  precision: Precision,
  sanitize: boolean,
): { flags: string[]; inputs: string[] } {
  const own = openBlasOverride().include;
  const include =
    [...(own ? [own] : []), ...OPENBLAS_INCLUDES].find((d) => exists(`${d}/cblas.h`)) ??
      "";
  return {
    flags: compileArgs(precision, include, cpuLibraryPath(precision), sanitize),
    inputs: relative([...sources(), `${ROOT}build.ts`]),
  };
}

/** True when a library's stamp matches the recipe it would be built with now. */
async function matches(name: LibraryName, recipe: { flags: string[]; inputs: string[] }) {
  const stamp = readStamp(libraryPath(name));
  return exists(libraryPath(name)) && stamp !== null &&
    stamp.sha256 === await digest(recipe.flags, recipe.inputs);
}

/** Compiles one CPU library unless it is fresh; returns true if it compiled. */
async function buildCpuLibrary(
  precision: Precision,
  force: boolean,
  sanitize: boolean,
): Promise<boolean> {
  const recipe = cpuRecipe(precision, sanitize);
  if (!force && await matches(`cpu-${precision}`, recipe)) return false;
  const cc = await findCompiler();
  const include = findOpenBlasInclude();
  if (precision === "f32" && !dnnlInclude()) throw new SetupError(DNNL_MISSING);
  Deno.mkdirSync(BUILD_DIR, { recursive: true });
  const lib = cpuLibraryPath(precision);
  // Compile to a temporary name and rename, so a failed build never replaces a good library.
  const tmp = tempPath(lib);
  const r = await run(cc, compileArgs(precision, include, tmp, sanitize));
  if (!r.ok) {
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing was written */ }
    if (/cannot find -ldnnl/.test(r.out)) throw new SetupError(DNNL_MISSING);
    if (/cannot find -lopenblas/.test(r.out)) {
      throw new SetupError(
        "Cannot link the native kernels: libopenblas not found (install Debian's libopenblas-dev: apt-get install -y libopenblas-dev)",
      );
    }
    throw new SetupError(
      `Cannot compile the native kernels (${precision}):\n${r.out}`,
    );
  }
  if (r.out.trim()) console.error(r.out.trim());
  Deno.renameSync(tmp, lib);
  await writeStamp(lib, { sha256: await digest(recipe.flags, recipe.inputs), ...recipe });
  return true;
}

/** What the CUDA search found: paths, or the reason it stopped. */
interface CudaToolkit {
  nvcc: string;
  cudaHome: string;
  cudnnInclude: string;
  cudnnLib: string;
  cublasInclude: string;
  cublasLib: string;
}

async function pythonWheelRoots(): Promise<string[]> {
  // The GPU machine ships cuDNN and cuBLAS as Python wheels under site-packages/nvidia/*.
  const r = await run("python3", [
    "-c",
    "import nvidia; print('\\n'.join(nvidia.__path__))",
  ]);
  return r.ok ? r.out.split("\n").map((s) => s.trim()).filter((s) => s) : [];
}

function firstWith(dirs: string[], file: RegExp): string | undefined {
  for (const d of dirs) {
    try {
      for (const e of Deno.readDirSync(d)) if (file.test(e.name)) return d;
    } catch { /* missing folder */ }
  }
  return undefined;
}

/** Looks for nvcc, cuDNN and cuBLAS; returns the toolkit or why there is none. */
async function findCuda(): Promise<CudaToolkit | { missing: string }> {
  const env = (k: string) => Deno.env.get(k);
  const homes = [env("CUDA_HOME"), env("CUDA_PATH"), "/usr/local/cuda", "/usr"]
    .filter((
      h,
    ): h is string => !!h);
  const cudaHome = homes.find((h) => exists(`${h}/bin/nvcc`));
  if (!cudaHome) {
    return { missing: "no nvcc (set CUDA_HOME to the CUDA toolkit)" };
  }
  const wheels = await pythonWheelRoots();
  const roots = (override: string | undefined, wheel: string) => [
    ...(override ? [override] : []),
    cudaHome,
    "/usr",
    "/usr/local",
    ...wheels.map((w) => `${w}/${wheel}`),
  ];
  const cudnnRoots = roots(env("CUDNN_PATH"), "cudnn");
  const cublasRoots = roots(env("CUBLAS_PATH"), "cublas");
  const libDirs = (rs: string[]) =>
    rs.flatMap((
      r,
    ) => [
      `${r}/lib`,
      `${r}/lib64`,
      `${r}/lib/x86_64-linux-gnu`,
      `${r}/targets/x86_64-linux/lib`,
    ]);
  const incDirs = (rs: string[]) =>
    rs.flatMap((
      r,
    ) => [
      `${r}/include`,
      `${r}/include/x86_64-linux-gnu`,
      `${r}/targets/x86_64-linux/include`,
    ]);
  const cudnnInclude = firstWith(incDirs(cudnnRoots), /^cudnn\.h$/);
  const cudnnLib = firstWith(libDirs(cudnnRoots), /^libcudnn\.so/);
  const cublasInclude = firstWith(incDirs(cublasRoots), /^cublas_v2\.h$/);
  const cublasLib = firstWith(libDirs(cublasRoots), /^libcublas\.so/);
  if (!cudnnInclude || !cudnnLib) {
    return {
      missing: `nvcc at ${cudaHome}/bin but no cuDNN (cudnn.h and libcudnn.so; set CUDNN_PATH)`,
    };
  }
  if (!cublasInclude || !cublasLib) {
    return {
      missing:
        `nvcc at ${cudaHome}/bin but no cuBLAS (cublas_v2.h and libcublas.so; set CUBLAS_PATH)`,
    };
  }
  return {
    nvcc: `${cudaHome}/bin/nvcc`,
    cudaHome,
    cudnnInclude,
    cudnnLib,
    cublasInclude,
    cublasLib,
  };
}

function cudaSources(): { cu: string[]; all: string[] } {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(KERNELS_DIR)].filter((e) => e.isFile).map((e) => e.name);
  } catch { /* no kernels/ folder */ }
  const cu = names.filter((n) => n.endsWith(".cu")).sort().map((n) => `${KERNELS_DIR}/${n}`);
  const headers = names.filter((n) => /\.(cuh|h)$/.test(n)).sort().map((n) =>
    `${KERNELS_DIR}/${n}`
  );
  const shared = ["advssl.h", "common.h", "hostdevice.h", "shared.c"].map((n) =>
    `${NATIVE_DIR}/${n}`
  );
  return { cu, all: [...cu, ...headers, ...shared] };
}

/** The linker flag for lib<base>.so in dir: the plain name, or the versioned file wheels ship. */
function linkFlag(dir: string, base: string): string {
  if (exists(`${dir}/lib${base}.so`)) return `-l${base}`;
  const versioned = [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => new RegExp(`^lib${base}\\.so\\.\\d+$`).test(n)).sort();
  return versioned.length ? `-l:${versioned[versioned.length - 1]}` : `-l${base}`;
}

// sm_90 (H100, H200) machine code, plus PTX the driver can compile for newer GPUs.
const CUDA_ARCH = [
  "-gencode",
  "arch=compute_90,code=sm_90",
  "-gencode",
  "arch=compute_90,code=compute_90",
];

function nvccCompileArgs(cuda: CudaToolkit, src: string, obj: string): string[] {
  return [
    "-std=c++17",
    "-O3",
    ...CUDA_ARCH,
    "-Xcompiler",
    "-Wall,-Wextra,-fPIC,-fvisibility=hidden",
    `-I${NATIVE_DIR}`,
    `-I${cuda.cudnnInclude}`,
    `-I${cuda.cublasInclude}`,
    "-c",
    src,
    "-o",
    obj,
  ];
}

function nvccLinkArgs(cuda: CudaToolkit, objs: string[], out: string): string[] {
  return [
    "-shared",
    ...CUDA_ARCH,
    ...objs,
    "-o",
    out,
    `-L${cuda.cudnnLib}`,
    `-L${cuda.cublasLib}`,
    linkFlag(cuda.cudnnLib, "cudnn"),
    linkFlag(cuda.cublasLib, "cublas"),
    // RPATH (not RUNPATH) also applies to cuBLAS's and cuDNN's own dependencies.
    "-Xlinker",
    "--disable-new-dtags",
    "-Xlinker",
    `-rpath=${cuda.cudnnLib}:${cuda.cublasLib}`,
    "-Xlinker",
    "--no-undefined",
  ];
}

/** What the CUDA library is built from: its flags and input files. */
function cudaRecipe(cuda: CudaToolkit): { flags: string[]; inputs: string[] } {
  const { cu, all } = cudaSources();
  return {
    flags: [
      ...cu.flatMap((f) => nvccCompileArgs(cuda, f, "obj")),
      ...nvccLinkArgs(cuda, ["objs"], "lib"),
    ],
    inputs: relative([...all, `${ROOT}build.ts`]),
  };
}

/** What buildCudaLibrary did: built, up to date, or skipped (with the reason). */
type CudaBuild = { status: "built" | "up to date"; cuda: CudaToolkit } | {
  status: "skipped";
  reason: string;
};

/**
 * Compiles kernels/*.cu (and native/shared.c) into the CUDA library unless it
 * is fresh; skipped, with the reason, where there is no toolkit with cuDNN and
 * cuBLAS. Sources compile in parallel, one nvcc per core.
 */
async function buildCudaLibrary(force = false): Promise<CudaBuild> {
  const cuda = await findCuda();
  if ("missing" in cuda) return { status: "skipped", reason: cuda.missing };
  const { cu } = cudaSources();
  if (!cu.length) return { status: "skipped", reason: "no CUDA sources in kernels/" };
  const lib = libraryPath("cuda");
  const recipe = cudaRecipe(cuda);
  if (!force && await matches("cuda", recipe)) return { status: "up to date", cuda };
  const objDir = `${BUILD_DIR}/cuda-obj-${Deno.pid}`;
  Deno.mkdirSync(objDir, { recursive: true });
  try {
    const cc = await findCompiler();
    const jobs: [string, string[]][] = cu.map((f) => [
      cuda.nvcc,
      nvccCompileArgs(cuda, f, `${objDir}/${f.split("/").pop()}.o`),
    ]);
    jobs.push([cc, [
      "-O2",
      "-std=c11",
      "-fPIC",
      "-fvisibility=hidden",
      "-Wall",
      "-Wextra",
      `-I${NATIVE_DIR}`,
      "-c",
      `${NATIVE_DIR}/shared.c`,
      "-o",
      `${objDir}/shared.o`,
    ]]);
    const outputs: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const [cmd, args] = jobs[next++];
        const r = await run(cmd, args);
        if (!r.ok) {
          throw new SetupError(`Cannot compile ${args[args.length - 3]}:\n${r.out}`);
        }
        if (r.out.trim()) outputs.push(r.out.trim());
      }
    };
    await Promise.all(
      Array.from({ length: Math.max(1, navigator.hardwareConcurrency) }, worker),
    );
    const objs = jobs.map(([, args]) => args[args.length - 1]);
    const tmp = tempPath(lib);
    const r = await run(cuda.nvcc, nvccLinkArgs(cuda, objs, tmp));
    if (!r.ok) throw new SetupError(`Cannot link the CUDA library:\n${r.out}`);
    if (r.out.trim()) outputs.push(r.out.trim());
    if (outputs.length) console.error(outputs.join("\n"));
    Deno.renameSync(tmp, lib);
    await writeStamp(lib, { sha256: await digest(recipe.flags, recipe.inputs), ...recipe });
  } finally {
    Deno.removeSync(objDir, { recursive: true });
  }
  return { status: "built", cuda };
}

const TARGETS: LibraryName[] = ["cpu-f32", "cpu-f64", "cuda"];

/** Rewrites the generated bindings when the headers changed (no compiler needed). */
async function writeAbi(): Promise<void> {
  const path = `${ROOT}${ABI_FILE}`;
  const text = await generatedAbi();
  let old = "";
  try {
    old = Deno.readTextFileSync(path);
  } catch { /* first generation */ }
  if (old === text) return;
  await writeAtomic(path, new TextEncoder().encode(text));
  console.log(`abi: wrote ${ABI_FILE}`);
}

async function main(args: string[]): Promise<void> {
  const options = {
    force: { kind: "bool", default: false, help: "rebuild even when up to date" },
    sanitize: {
      kind: "bool",
      default: false,
      help:
        `CPU libraries with AddressSanitizer and UBSan (needs ${BUILD_DIR_ENV}: another folder)`,
    },
  } as const;
  const { values, positionals, help } = parseFlags(args, options, {
    min: 0,
    max: 3,
    what: `libraries to build (${TARGETS.join(", ")})`,
  });
  if (help) {
    console.log(helpText(
      `deno task build-native [${TARGETS.join("|")} ...] [--force] [--sanitize]`,
      `Writes ${ABI_FILE} from the C headers, then builds the native libraries (all by default).`,
      options,
    ));
    return;
  }
  await writeAbi();
  const bad = positionals.find((p) => !TARGETS.includes(p as LibraryName));
  if (bad) throw new SetupError(`Cannot build '${bad}': the libraries are ${TARGETS.join(", ")}`);
  const targets = positionals.length ? positionals as LibraryName[] : TARGETS;
  const force = values.force as boolean;
  const sanitize = values.sanitize as boolean;
  if (sanitize && !Deno.env.get(BUILD_DIR_ENV)) {
    throw new SetupError(
      `Cannot build with --sanitize into ${BUILD_DIR}: set ${BUILD_DIR_ENV} to another folder, so the sanitized libraries do not replace the normal ones`,
    );
  }
  if (sanitize && targets.includes("cuda")) {
    throw new SetupError("Cannot build the CUDA library with --sanitize: name cpu-f32 or cpu-f64");
  }
  for (const p of ["f32", "f64"] as const) {
    if (!targets.includes(`cpu-${p}`)) continue;
    const built = await buildCpuLibrary(p, force, sanitize);
    console.log(`cpu ${p}: ${built ? "built" : "up to date"} ${cpuLibraryPath(p)}`);
  }
  if (!targets.includes("cuda")) return;
  const cuda = await buildCudaLibrary(force);
  console.log(
    cuda.status === "skipped"
      ? `cuda: skipped: ${cuda.reason}`
      : `cuda: ${cuda.status} ${
        libraryPath("cuda")
      } (nvcc ${cuda.cuda.nvcc}, cuDNN ${cuda.cuda.cudnnLib}, cuBLAS ${cuda.cuda.cublasLib})`,
  );
}

if (import.meta.main) await runMain(main);
