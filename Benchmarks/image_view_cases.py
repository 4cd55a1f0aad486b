#!/usr/bin/env python3
"""Random image views of a data loader's kind for `relayout bench`: H x W x C pixels, C x H x W planes
and batches of either, in u1, u2 and f4, permuted the ways loaders permute them (pixels into
planes and back, rows and columns swapped) and indexed after the permutation with flips, every
other element and crops: `DTYPE:SHAPE:PERM[INDEX]` cases.

    (set -f; .build/release/relayout bench --repeats 3 $(python3 Benchmarks/image_view_cases.py))
    (set -f; python3 Benchmarks/alternate_cases.py --rounds 2 OLD NEW $(python3 Benchmarks/image_view_cases.py))

(`set -f`: the indices hold brackets, which the shell would otherwise try as file patterns.)

The default (seed 25, 120 cases) is the set docs/performance.md reports since the twenty-fifth
session.
"""
import argparse, random

SHAPES = [("1080x1920x3", 3), ("720x1280x4", 3), ("32x224x224x3", 4), ("3x1080x1920", 3), ("8x3x256x256", 4), ("1000x1000", 2)]
PERMUTATIONS = {3: ["0,1,2", "2,0,1", "1,0,2", "1,2,0", "0,2,1"], 4: ["0,3,1,2", "0,2,3,1", "0,2,1,3", "0,1,3,2"], 2: ["1,0", "0,1"]}


def index(rng, sizes):
    """A NumPy index of the permuted view: each axis whole, flipped, every other element, cropped by 10
    at both ends or by one at the end (the last two only on axes of 20 or more)."""
    parts = []
    for size in sizes:
        r = rng.random()
        if size < 20 and r >= 0.65:
            r = 0.0
        parts.append(":" if r < 0.45 else "::-1" if r < 0.65 else "::2" if r < 0.8 else "10:-10" if r < 0.9 else ":-1")
    while parts and parts[-1] == ":":
        parts.pop()
    return "[" + ",".join(parts) + "]" if parts else ""


def cases(seed, count):
    rng = random.Random(seed)
    found = set()
    for dtype in ["u1", "f4", "u2"]:
        for shape, rank in SHAPES:
            for permutation in PERMUTATIONS[rank]:
                for _ in range(2):
                    sizes = [int(x) for x in shape.split("x")]
                    axes = [int(x) for x in permutation.split(",")]
                    found.add(f"{dtype}:{shape}:{permutation}{index(rng, [sizes[a] for a in axes])}")
    found = sorted(found)
    rng.shuffle(found)
    return found[:count]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--count", type=int, default=120)
    args = parser.parse_args()
    print(" ".join(f"--case {c}" for c in cases(args.seed, args.count)))
