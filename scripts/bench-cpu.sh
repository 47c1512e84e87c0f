#!/bin/bash
# The CPU benchmarks of docs/benchmarks.md in one go, on a quiet machine: advssl training runs and
# PyTorch references still running here are paused (SIGSTOP) meanwhile and resumed (SIGCONT) after.
#   scripts/bench-cpu.sh [OUT]   (default runs/bench-cpu): one text file per command
set -u
cd "$(dirname "$0")/.."
export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export OMP_WAIT_POLICY=PASSIVE
O=${1:-runs/bench-cpu}
mkdir -p "$O"
PIDS=$(pgrep -f 'deno run --allow-all src/cli/main.ts|torch_vat_mnist' || true)
[ -n "$PIDS" ] && kill -STOP $PIDS
trap '[ -n "$PIDS" ] && kill -CONT $PIDS' EXIT
lscpu | grep 'Model name' >"$O/cpu.txt"
deno task bench >"$O/bench.txt" 2>&1
deno task bench-gpu --backend cpu --model mnist --threads 2 --torch /usr/bin/python3 >"$O/mnist.txt" 2>&1
deno task bench-gpu --backend cpu --model mnist --threads 2 --precision bf16 >"$O/mnist-bf16.txt" 2>&1
deno task bench-gpu --backend cpu --threads 2 --torch /usr/bin/python3 --reps 3 --warmup 1 \
  >"$O/conv-large.txt" 2>&1
deno task bench-gpu --backend cpu --threads 2 --reps 3 --warmup 1 --precision bf16 \
  >"$O/conv-large-bf16.txt" 2>&1
