#!/usr/bin/env python3
"""Compares relayout builds (or settings) case by case, in alternating rounds.

On the project's VMs a whole `relayout bench` run drifts by 10-40 % within minutes, so two runs one
after the other cannot tell a 5 % change from noise. This driver runs every case once per binary in
turn (the order flipping each round), so drift hits both sides alike, and reports per element size:

- the geometric mean of the per-case median ratios to memcpy (TTC shapes and the 2-D set apart),
  the lowest case and how many fall under the 0.75 floor;
- with two or more binaries, the paired figure: per case the median over rounds of
  GB/s(binary) / GB/s(first binary), then their geometric mean.

Cases: the 57 TTC shapes of Benchmarks/ttc-57.txt (read by ttc_cases.py) and the 2-D transposes
4096², 8192², 4097x4099 and 7263x7265.
Each measurement is `BINARY bench --json --repeats 3 --case DTYPE:SHAPE:PERM`. A "binary" may be a
wrapper script that adds options or environment variables, e.g.

    #!/bin/sh
    cmd=$1; shift
    exec /path/to/relayout "$cmd" --wide-block-pairs false "$@"

Usage:
    python3 Benchmarks/alternate.py --rounds 2 --dtypes f4,u1 OLD_BINARY NEW_BINARY
    python3 Benchmarks/alternate.py --only 2d --dtypes f4 .build/release/relayout
    python3 Benchmarks/alternate.py --json results.json ...   # also every sample, for later digging
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

from ttc_cases import ttc_shapes

TWO_D = ['4096x4096', '8192x8192', '4097x4099', '7263x7265']


def geometric_mean(values):
    values = list(values)
    return math.exp(sum(map(math.log, values)) / len(values))


def measure(binary, case):
    run = subprocess.run([binary, 'bench', '--json', '--repeats', '3', '--case', case], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f'{binary} bench --case {case} failed: {run.stderr.strip()}')
    result = json.loads(run.stdout)[0]
    return result['ratio'], result['gbps']


def main():
    parser = argparse.ArgumentParser(description='Alternating per-case comparison of relayout builds.')
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--dtypes', default='f4', help='comma-separated: u1,u2,f4,f8,c16')
    parser.add_argument('--only', choices=['ttc', '2d'], help='only the TTC shapes or only the 2-D set')
    parser.add_argument('--json', help='write every sample to this file')
    parser.add_argument('binaries', nargs='+')
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    for binary in args.binaries:
        if not os.access(binary, os.X_OK):
            parser.error(f'{binary} is not an executable file')

    cases = []
    if args.only != '2d':
        cases += [('ttc', shape, perm) for shape, perm in ttc_shapes()]
    if args.only != 'ttc':
        cases += [('2d', side, '1,0') for side in TWO_D]
    dtypes = args.dtypes.split(',')

    samples = {}  # (binary, dtype, kind, case) -> [(ratio, gbps)], one per round
    for round_index in range(args.rounds):
        order = args.binaries if round_index % 2 == 0 else list(reversed(args.binaries))
        for dtype in dtypes:
            for kind, shape, perm in cases:
                for binary in order:
                    case = f'{shape}:{perm}'
                    samples.setdefault((binary, dtype, kind, case), []).append(measure(binary, f'{dtype}:{case}'))

    first = args.binaries[0]
    for dtype in dtypes:
        for binary in args.binaries:
            for kind in ('ttc', '2d'):
                keys = [k for k in samples if k[0] == binary and k[1] == dtype and k[2] == kind]
                if not keys:
                    continue
                medians = {k[3]: statistics.median(s[0] for s in samples[k]) for k in keys}
                if kind == 'ttc':
                    lowest = min(medians, key=medians.get)
                    under = sum(1 for v in medians.values() if v < 0.75)
                    detail = f'lowest {medians[lowest]:.3f} {lowest}, under 0.75: {under}'
                else:
                    detail = ' / '.join(f'{medians[f"{side}:1,0"]:.2f}' for side in TWO_D if f'{side}:1,0' in medians)
                print(f'{dtype:4} {binary}  {kind}: geomean {geometric_mean(medians.values()):.3f}; {detail}')
        for binary in args.binaries[1:]:
            for kind in ('ttc', '2d'):
                keys = [k for k in samples if k[0] == first and k[1] == dtype and k[2] == kind]
                if not keys:
                    continue
                paired = [statistics.median(b[1] / a[1] for a, b in zip(samples[k], samples[(binary,) + k[1:]])) for k in keys]
                print(f'{dtype:4} paired GB/s {binary} / {first}  {kind}: {geometric_mean(paired):.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'|'.join(k): v for k, v in samples.items()}, f)


if __name__ == '__main__':
    main()
