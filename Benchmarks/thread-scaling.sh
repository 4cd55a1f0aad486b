#!/usr/bin/env bash
# Thread scaling on another machine that has no Swift toolchain (docs/performance.md, "Thread scaling
# on a 16-core machine").
#
#   Benchmarks/thread-scaling.sh prepare DIR   # here: a static release binary and libnuma into DIR
#   DIR/thread-scaling.sh run OUT              # there: machine facts, TTC at 1..16 threads, --allocation
#                                              # and the small suite at the top count, into OUT/
# Results come back as few files (machine.txt, info.json, ttc.txt, alloc.json, small.json): tools that
# fetch results often limit how many files return.
set -euo pipefail
case "${1:-}" in
  prepare)
    dir="${2:?usage: thread-scaling.sh prepare DIR}"
    cd "$(dirname "$0")/.."
    swift build -c release --static-swift-stdlib --build-path .build-static
    mkdir -p "$dir"
    strip -o "$dir/relayout" .build-static/release/relayout
    gzip -9 -f "$dir/relayout"
    cp "$(ldconfig -p | awk '/libnuma\.so\.1 /{print $NF; exit}')" "$dir/"
    cp "$(ldconfig -p | awk '/libstdc\+\+\.so\.6 /{print $NF; exit}')" "$dir/"
    cp "$0" "$dir/thread-scaling.sh"
    du -sh "$dir" ;;
  run)
    out="${2:?usage: thread-scaling.sh run OUT}"
    here="$(cd "$(dirname "$0")" && pwd)"
    gunzip -c "$here/relayout.gz" > /tmp/relayout && chmod +x /tmp/relayout
    export LD_LIBRARY_PATH="$here"
    top=$(nproc)
    { nproc; lscpu; cat /sys/kernel/mm/transparent_hugepage/enabled
      for n in /sys/devices/system/node/node*; do echo "$n: cpus $(cat "$n/cpulist")"; done; } > "$out/machine.txt" 2>&1
    /tmp/relayout info --json > "$out/info.json"
    for t in 1 2 4 8 16 32 64; do
      [ "$t" -le "$top" ] || break
      echo "== threads $t"; /tmp/relayout bench --threads "$t" --repeats 3 --json
    done > "$out/ttc.txt"
    /tmp/relayout bench --threads "$top" --repeats 3 --allocation --json > "$out/alloc.json"
    /tmp/relayout bench --suite small --threads "$top" --repeats 5 --json > "$out/small.json" ;;
  *)
    echo "usage: thread-scaling.sh prepare DIR | run OUT" >&2; exit 2 ;;
esac
