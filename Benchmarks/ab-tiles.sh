#!/bin/sh
# Builds /tmp/ab-tiles (Benchmarks/ab-tiles.c): build A is the C kernels as they are, build B the
# same sources compiled with this script's arguments (say -DSOME_MACRO=1) and every exported rl_
# symbol renamed vb_rl_, so that both run in one process. Tiles take the walks the CPU runs: the
# AVX-512 ones where it has them, else the staged, joined and row walks (the AVX2 builds where it
# has AVX2), so a change to one of those is measured on a CPU that takes it.
#
#   Benchmarks/ab-tiles.sh -DFETCH_STEPS_AHEAD=4 && /tmp/ab-tiles 4 7263 7265 15
set -e
# The kernels are compiled as `swift build -c release` compiles the C target (`swift build -c
# release -v` shows it). At -O3 the same source's joined row walk ran 1.3x slower than the engine's
# build (u2 7263x7265, 2 threads: 12.0 against 15.9 GB/s), so -O3 builds measured something the
# engine does not run (docs/performance.md, thirty-fourth session).
cflags="-O2 -fPIC -fno-omit-frame-pointer"
root=$(cd "$(dirname "$0")/.." && pwd)
out=${AB_TILES_BUILD:-/tmp/ab-tiles-build}
rm -rf "$out" && mkdir -p "$out/a" "$out/b"
include="-I$root/Sources/CRelayoutKernels/include"
for f in "$root"/Sources/CRelayoutKernels/*.c; do
    clang $cflags "$include" -c "$f" -o "$out/a/$(basename "$f" .c).o"
done
nm -g --defined-only "$out"/a/*.o | awk 'NF == 3 && $3 ~ /^rl_/ { print "#define " $3 " vb_" $3 }' | sort -u > "$out/rename.h"
for f in "$root"/Sources/CRelayoutKernels/*.c; do
    clang $cflags "$include" -include "$out/rename.h" "$@" -c "$f" -o "$out/b/$(basename "$f" .c).o"
done
clang -O2 "$include" "$root/Benchmarks/ab-tiles.c" "$out"/a/*.o "$out"/b/*.o -o /tmp/ab-tiles -lpthread
echo "built /tmp/ab-tiles (B: $*)"
