#!/usr/bin/env python3
"""Times chosen `relayout bench` cases with several binaries in turn, round after round, and prints
each case's median GB/s and ratio to memcpy per binary (and the GB/s against the first binary).

    python3 Benchmarks/alternate_cases.py --rounds 3 OLD NEW \
        --case 'u1:1080x1920x3:1,0,2' --case 'u1:1080x1920x3:0,1,2[:,::-1]'

A binary may carry options after a comma (`NEW,--tile=64x256`), so one build can be compared
with itself under hidden bench options. Alternating per round keeps the drift of a shared VM from
landing on one side (see docs/performance.md).
"""
import argparse
import json
import statistics
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs="+", help="relayout binaries, each optionally BINARY,--option=value,...")
    parser.add_argument("--case", action="append", required=True, help="a bench case, DTYPE:SHAPE:PERM[INDEX]; repeatable")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case in each call")
    options = parser.parse_args()
    results = {}
    for round_index in range(options.rounds):
        order = options.binaries if round_index % 2 == 0 else list(reversed(options.binaries))
        for entry in order:
            binary, *extra = entry.split(",")
            command = [binary, "bench", "--repeats", str(options.repeats), "--json", *extra]
            for case in options.case:
                command += ["--case", case]
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{entry}: {run.stderr.strip()}", file=sys.stderr)
                return 1
            for row in json.loads(run.stdout):
                results.setdefault((entry, row["case"]), []).append((row["gbps"], row["ratio"]))
    first = options.binaries[0]
    for case in options.case:
        print(case)
        base = statistics.median(g for g, _ in results[(first, case)])
        for entry in options.binaries:
            samples = results[(entry, case)]
            gbps = statistics.median(g for g, _ in samples)
            ratio = statistics.median(r for _, r in samples)
            print(f"   {entry:48s} {gbps:7.2f} GB/s  ratio {ratio:.2f}  ({gbps / base:.2f}x the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
