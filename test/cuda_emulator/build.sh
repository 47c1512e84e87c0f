#!/bin/bash
# Builds build/cuda-emu/libadvssl_cuda_emu.so: kernels/*.cu (except gemm.cu, bf16.cu and
# conv.cu) rewritten by preprocess.py and compiled with g++ against
# cuda_emu.h, the emulator's runtime, and native/gemm.c, native/conv.c (as
# cuBLAS and cuDNN) and native/shared.c.
#   REPO (default: this checkout)   EMU_CONTRACT=0 to compile without FMA contraction
#   LIB, BUILD, GEN: the library, object and rewritten-source paths
set -euo pipefail
EMU=$(cd "$(dirname "$0")" && pwd)
REPO=${REPO:-$(cd "$EMU/../.." && pwd)}
OUT=${BUILD:-$REPO/build/cuda-emu/obj}
GEN=${GEN:-$REPO/build/cuda-emu/gen}
LIB=${LIB:-$REPO/build/cuda-emu/libadvssl_cuda_emu.so}
mkdir -p "$OUT" "$GEN"
OPENBLAS_INC=/usr/include/x86_64-linux-gnu/openblas-pthread
# nvcc fuses a*b+c into an FMA by default; -ffp-contract=fast does the same
# here (with FMA instructions), so missing __fmul_rn-style guards show up.
CONTRACT="-mfma -ffp-contract=fast"
[ "${EMU_CONTRACT:-1}" = 0 ] && CONTRACT="-ffp-contract=off"
CXXFLAGS="-std=c++17 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Wno-unknown-pragmas"
INC="-I$EMU/include -I$EMU -I$REPO/kernels -I$REPO/native"

pids=()
objs=()
for cu in "$REPO"/kernels/*.cu; do
  base=$(basename "$cu" .cu)
  case $base in gemm|conv|bf16) continue ;; esac
  python3 "$EMU/preprocess.py" "$cu" "$GEN/$base.cpp"
  g++ $CXXFLAGS $CONTRACT $INC -c "$GEN/$base.cpp" -o "$OUT/$base.o" &
  pids+=($!)
  objs+=("$OUT/$base.o")
  # two cores: keep at most two compilers running
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
g++ $CXXFLAGS $INC -c "$EMU/emu_runtime.cpp" -o "$OUT/emu_runtime.o"
g++ $CXXFLAGS $INC -c "$EMU/emu_host.cpp" -o "$OUT/emu_host.o"
CFLAGS="-std=c11 -O2 -g -fPIC -fvisibility=hidden -fopenmp -Wall -Wextra -I$OPENBLAS_INC -I$REPO/native"
gcc $CFLAGS -c "$REPO/native/shared.c" -o "$OUT/shared.o"
gcc $CFLAGS -c "$REPO/native/gemm.c" -o "$OUT/gemm.o"
gcc $CFLAGS -c "$REPO/native/conv.c" -o "$OUT/conv.o"
objcopy --redefine-sym adv_gemm=adv_cpu_gemm "$OUT/gemm.o"
for f in forward backward_data backward_filter; do
  objcopy --redefine-sym adv_conv2d_$f=adv_cpu_conv2d_$f "$OUT/conv.o"
done
# export the ABI (adv_*) but not the renamed CPU versions (adv_cpu_*)
echo '{ global: adv_[!c]*; adv_c[!p]*; local: *; };' > "$OUT/exports.map"
g++ -shared -fopenmp -o "$LIB.tmp" "${objs[@]}" \
  "$OUT/emu_runtime.o" "$OUT/emu_host.o" "$OUT/shared.o" "$OUT/gemm.o" "$OUT/conv.o" \
  -Wl,--no-undefined -Wl,-Bsymbolic -Wl,--version-script="$OUT/exports.map" -lopenblas -lm
mv "$LIB.tmp" "$LIB"
echo "built $LIB"
