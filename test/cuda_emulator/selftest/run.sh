#!/bin/bash
# Builds the emulator self-test and checks that each planted bug is caught.
set -u
EMU=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(cd "$EMU/../.." && pwd)/build/cuda-emu
mkdir -p "$OUT"
python3 "$EMU/preprocess.py" "$EMU/selftest/selftest.cu" "$OUT/selftest.gen.cpp"
g++ -std=c++17 -O2 -g -Wall -Wextra -Wno-unknown-pragmas -mfma -ffp-contract=fast \
  -I"$EMU/include" -I"$EMU" "$OUT/selftest.gen.cpp" "$EMU/emu_runtime.cpp" -o "$OUT/selftest" || exit 1
T=$OUT
"$T/selftest" good || exit 1
EMU_ORDER=reverse "$T/selftest" good | grep racy
fails=0
for bug in early_exit_shuffle early_exit_sync oob divergent deadlock host_ptr use_after_free copy_overflow device_global copy_overlap; do
  out=$("$T/selftest" $bug 2>&1)
  if echo "$out" | grep -q "CUDA emulator:"; then
    echo "PASS: $bug caught: $(echo "$out" | grep 'CUDA emulator:' | head -1 | cut -c1-150)"
  else
    echo "FAIL: $bug not caught: $out"; fails=1
  fi
done
exit $fails
