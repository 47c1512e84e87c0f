#!/bin/bash
# Builds the differential fuzzer (fuzz.cpp).
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
REPO=${REPO:-$(cd "$D/../../.." && pwd)}
mkdir -p "$REPO/build/cuda-emu"
g++ -std=c++17 -O1 -g -Wall -Wextra -I"$REPO/native" "$D/fuzz.cpp" -o "$REPO/build/cuda-emu/fuzz" -ldl
