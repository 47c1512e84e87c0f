#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, build the CUDA library, run
# the GPU parity tests, the GPU benchmarks against PyTorch, short MNIST
# training runs on the GPU and timed SVHN and CIFAR-10 preset runs on
# synthetic data of the real shapes, and print a table last. Each stage's outcome goes
# into the table; a failed stage does not stop the later ones.
#
# What it needs beside the checkout (see ../shared/gpu-machine.md):
#   .carry/deno.xz      the Deno binary, xz-compressed (when deno is not on PATH)
#   .carry/data/mnist/  the four MNIST IDX .gz files
#   .carry/debs/        Debian's OpenBLAS and oneDNN packages, unpacked there only if the machine
#                       lacks them
# Results (logs, JSON, the table) go to $OUT when set, else to runs/gpu-check.
#
# Prepare here:  scripts/gpu-check.sh --prepare
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .carry/data
  # the binary itself, not a pyenv or pip shim in front of it
  xz -T2 -6 -c "$(deno eval 'console.log(Deno.execPath())')" >.carry/deno.xz
  cp -r ../shared/data/mnist .carry/data/
  # OpenBLAS (and the Fortran runtime its LAPACK needs) from Debian, for a GPU image without it
  mkdir -p .carry/debs
  (cd .carry/debs && apt-get download libopenblas0-pthread libopenblas-pthread-dev libgfortran5 \
    libquadmath0 2>/dev/null)
  # oneDNN (the float32 CPU library's convolutions) and the OpenCL loader it links
  (cd .carry/debs && apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1 2>/dev/null)
  du -sh .carry
  exit 0
fi

OUT=${OUT:-$ROOT/runs/gpu-check}
mkdir -p "$OUT"
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 |"); }
secs() { echo $(($(date +%s) - $1)); }

if ! command -v deno >/dev/null; then
  if [ -f .carry/deno.xz ]; then
    python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.carry/deno.xz'),open('.carry/deno','wb'))"
    chmod +x .carry/deno
    export PATH="$ROOT/.carry:$PATH"
  else
    echo "error: no deno on PATH and no .carry/deno.xz (run scripts/gpu-check.sh --prepare)" >&2
    exit 1
  fi
fi

# cuDNN and cuBLAS come as Python wheels there: their lib folders must be on the loader's path.
WHEEL_LIBS=$(python3 -c 'import nvidia, os
print(":".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in sorted(os.listdir(p))
               if os.path.isdir(os.path.join(p, d, "lib"))))' 2>/dev/null || true)
export LD_LIBRARY_PATH="${WHEEL_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
TORCH_PY=$(command -v python3)

# No OpenBLAS on the machine: unpack the carried Debian packages and point the build at them.
if ! ls /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h /usr/include/openblas/cblas.h \
  /usr/include/cblas.h >/dev/null 2>&1 && ls .carry/debs/*.deb >/dev/null 2>&1; then
  for f in .carry/debs/*.deb; do dpkg -x "$f" .carry/root; done
  export OPENBLAS_INCLUDE="$ROOT/.carry/root/usr/include/x86_64-linux-gnu/openblas-pthread"
  export OPENBLAS_LIB="$ROOT/.carry/root/usr/lib/x86_64-linux-gnu/openblas-pthread:$ROOT/.carry/root/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$OPENBLAS_LIB:$LD_LIBRARY_PATH"
  echo "OpenBLAS: from .carry/debs"
fi
# The same for oneDNN.
if ! ls /usr/include/dnnl.h /usr/local/include/dnnl.h >/dev/null 2>&1 &&
  ls .carry/debs/libdnnl*.deb >/dev/null 2>&1; then
  for f in .carry/debs/libdnnl*.deb .carry/debs/ocl-icd*.deb; do dpkg -x "$f" .carry/root; done
  export DNNL_INCLUDE="$ROOT/.carry/root/usr/include"
  export DNNL_LIB="$ROOT/.carry/root/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$DNNL_LIB:$LD_LIBRARY_PATH"
  echo "oneDNN: from .carry/debs"
fi

GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
echo "GPU: ${GPU:-none found}; deno $(deno --version | head -1 | cut -d' ' -f2)"

# 1. build
t=$(date +%s)
if deno task build-native >"$OUT/build.log" 2>&1; then
  row "build (CPU + CUDA libraries)" "ok" "$(secs "$t") s; $(grep -o '^cuda: [a-z ]*' "$OUT/build.log")"
else
  row "build (CPU + CUDA libraries)" "FAILED" "see build.log: $(tail -1 "$OUT/build.log" | cut -c1-80)"
fi

# 2. parity tests, GPU training through the command line, and the ABI test (which loads the library)
t=$(date +%s)
deno test --allow-all test/cuda_parity_test.ts test/cuda_train_test.ts test/abi_test.ts \
  >"$OUT/parity.log" 2>&1
status=$?
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/parity.log" | grep -E '^(ok|FAILED) \|' | tail -1 | tr '|' ',')
row "GPU parity tests" "$([ $status = 0 ] && echo ok || echo FAILED)" "${summary:-no summary}; $(secs "$t") s"
grep -E 'FAILED|AssertionError|relative error' "$OUT/parity.log" | sed 's/\x1b\[[0-9;]*m//g' | head -20

# 3. benchmarks against PyTorch on the same GPU
t=$(date +%s)
if deno task bench-gpu --backend cuda --torch "$TORCH_PY" --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1; then
  while IFS= read -r line; do
    row "bench: $(echo "$line" | cut -d'|' -f2 | xargs)" "ours $(echo "$line" | cut -d'|' -f3 | xargs) ms, PyTorch $(echo "$line" | cut -d'|' -f4 | xargs) ms" "ratio $(echo "$line" | cut -d'|' -f5 | xargs) (target <= 1.0)"
  done < <(grep -E '^\| (advgen|VAT|supervised)' "$OUT/bench.log")
else
  row "GPU benchmarks" "FAILED" "see bench.log: $(tail -1 "$OUT/bench.log" | cut -c1-80)"
fi
echo "bench: $(secs "$t") s"

# 3b. the same iterations with --precision bf16 (cuDNN and cuBLAS in bfloat16), against our fp32
t=$(date +%s)
if deno task bench-gpu --backend cuda --precision bf16 >"$OUT/bench-bf16.log" 2>&1; then
  while IFS= read -r line; do
    row "bench: $(echo "$line" | cut -d'|' -f2 | xargs)" "bf16 $(echo "$line" | cut -d'|' -f3 | xargs) ms, $(echo "$line" | cut -d'|' -f4 | xargs) ms" "ratio $(echo "$line" | cut -d'|' -f5 | xargs)"
  done < <(grep -E 'bf16 against our fp32' "$OUT/bench-bf16.log")
else
  row "GPU benchmarks, bf16" "FAILED" "see bench-bf16.log: $(tail -1 "$OUT/bench-bf16.log" | cut -c1-80)"
fi
echo "bench bf16: $(secs "$t") s"

# 4. short MNIST runs on the GPU (1000 labels)
for method in vat advgen; do
  t=$(date +%s)
  dir="$OUT/mnist-$method"
  rm -rf "$dir"
  if deno task train --dataset mnist --data-dir .carry/data --labels 1000 --method "$method" \
    --iterations 2000 --backend cuda --out "$dir" >"$OUT/mnist-$method.log" 2>&1; then
    err=$(python3 -c "import json;print(json.load(open('$dir/summary.json'))['test_error'])")
    row "MNIST $method, 2000 iterations, cuda" "test error $err %" "$(secs "$t") s wall"
  else
    row "MNIST $method, 2000 iterations, cuda" "FAILED" "$(tail -1 "$OUT/mnist-$method.log" | cut -c1-80)"
  fi
done

# 5. SVHN and CIFAR-10 presets on synthetic data of the real shapes (no real data travels): a few
# hundred iterations each on the GPU, the time per iteration (the metrics lines' rate after the
# first interval, so start-up and evaluation are left out), and the projected time of each table
# row: the preset's full schedule times the table's seeds. The data and runs stay out of $OUT
# (hundreds of MB): only the table comes back.
t=$(date +%s)
SCRATCH="$ROOT/runs/gpu-check-scratch"
SYN="$SCRATCH/synthetic"
if deno run --allow-all test/data_helpers.ts "$SYN" >"$OUT/synthetic.log" 2>&1; then
  for preset in svhn-supervised svhn-vat-entmin svhn-advgen cifar10-supervised cifar10-vat-entmin \
    cifar10-advgen; do
    dir="$SCRATCH/$preset"
    rm -rf "$dir"
    if deno run --allow-all test/fixtures/synthetic_train.ts --preset "$preset" --data-dir "$SYN" \
      --no-download --iterations 300 --log-interval 100 --eval-interval 300 \
      --checkpoint-interval 300 --backend cuda --out "$dir" >"$OUT/$preset.log" 2>&1; then
      summary=$(deno eval "
        import { BUILTIN } from './src/registry/mod.ts';
        const p = '$preset';
        const full = BUILTIN.datasets[p.split('-')[0]].presets[p].values.iterations;
        const rates = Deno.readTextFileSync('$dir/metrics.jsonl').trim().split('\\n')
          .map((l) => JSON.parse(l).rate).filter((r) => typeof r === 'number').slice(1);
        const per = rates.length / rates.reduce((s, r) => s + 1 / r, 0);
        const seeds = BUILTIN.tables.ssl.seeds;
        console.log((1000 / per).toFixed(0) + ' ms/iteration|full schedule ' + full +
          ' iterations x ' + seeds + ' seeds: ' + (full * seeds / per / 3600).toFixed(1) + ' h');")
      row "$preset, 300 iterations, cuda" "${summary%%|*}" "${summary#*|}"
    else
      row "$preset, 300 iterations, cuda" "FAILED" "$(tail -1 "$OUT/$preset.log" | cut -c1-80)"
    fi
  done
else
  row "synthetic SVHN and CIFAR-10" "FAILED" "$(tail -1 "$OUT/synthetic.log" | cut -c1-80)"
fi
echo "images: $(secs "$t") s"

{
  echo "GPU check on ${GPU:-no GPU}"
  echo
  echo "| check | result | detail |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/gpu-check.md"
