#!/usr/bin/env python3
"""Differential test of `relayout copy` against NumPy.

Each case is a random array (dtype, rank 1-6, C or Fortran order, sizes around powers of two, empty
sizes included), a random permutation and a random NumPy basic index (negative steps, negative and
out-of-range bounds, integer indices), and sometimes --format channels-last. The expected output is
NumPy's `np.ascontiguousarray(a.transpose(P)[S])`, compared byte for byte with what relayout wrote.

    python3 Tests/differential/differential.py --binary .build/release/relayout --cases 1000
    python3 Tests/differential/differential.py --generate DIR --cases 300   # for the Swift test
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

DTYPES = ["b1", "u1", "i1", "u2", "i2", "f2", "u4", "i4", "f4", "u8", "i8", "f8", "c8", "c16"]
SIZES = [0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129]
MAX_ELEMENTS = 1 << 17


def random_array(rng):
    dtype = np.dtype(DTYPES[rng.integers(len(DTYPES))])
    rank = int(rng.integers(1, 7))
    while True:
        shape = tuple(int(rng.choice(SIZES)) for _ in range(rank))
        if int(np.prod(shape)) <= MAX_ELEMENTS:
            break
    count = int(np.prod(shape))
    raw = rng.integers(0, 256, size=count * dtype.itemsize, dtype=np.uint8)
    if dtype.kind == "b":
        raw = raw & 1
    a = raw.view(dtype).reshape(shape)
    if rng.random() < 0.5:
        a = np.asfortranarray(a)
    return a


def random_index(rng, shape):
    parts, axis = [], 0
    for size in shape[: int(rng.integers(0, len(shape) + 1))]:
        if size > 0 and rng.random() < 0.2:
            i = int(rng.integers(-size, size))
            parts.append((str(i), i))
            continue
        step = int(rng.choice([1, 1, 2, 3, -1, -1, -2, -3]))
        bound = lambda: None if rng.random() < 0.4 else int(rng.integers(-size - 3, size + 4))
        start, stop = bound(), bound()
        text = f"{'' if start is None else start}:{'' if stop is None else stop}:{step}"
        parts.append((text, slice(start, stop, step)))
    return ",".join(p[0] for p in parts), tuple(p[1] for p in parts)


def make_case(rng, index, folder):
    a = random_array(rng)
    perm = list(rng.permutation(a.ndim)) if rng.random() < 0.8 else None
    view = a.transpose(perm) if perm is not None else a
    slice_text, slice_value = random_index(rng, view.shape) if rng.random() < 0.8 else ("", ())
    view = view[slice_value]
    fmt = "contiguous"
    expected = np.array(view, order="C")  # keeps 0-d results 0-d, unlike ascontiguousarray
    if view.ndim in (4, 5) and rng.random() < 0.3:
        fmt = "channels-last"
        order = (0, 2, 3, 1) if view.ndim == 4 else (0, 2, 3, 4, 1)
        expected = np.ascontiguousarray(view.transpose(order))
    input_path = os.path.join(folder, f"in{index}.npy")
    expected_path = os.path.join(folder, f"expected{index}.npy")
    np.save(input_path, a)
    np.save(expected_path, expected)
    args = []
    if perm is not None:
        args.append("--permute=" + ",".join(map(str, perm)))
    if slice_text:
        args.append("--slice=" + slice_text)
    args.append("--format=" + fmt)
    return {"input": input_path, "expected": expected_path, "output": os.path.join(folder, f"out{index}.npy"), "args": args}


def same(expected_path, output_path):
    e, o = np.load(expected_path), np.load(output_path)
    return e.dtype == o.dtype and e.shape == o.shape and o.flags.c_contiguous and e.tobytes() == o.tobytes()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--binary", default=".build/debug/relayout")
    parser.add_argument("--generate", metavar="DIR", help="write cases and a manifest.json instead of running")
    parser.add_argument("--check", metavar="DIR", help="compare outputs of a generated folder")
    options = parser.parse_args()
    if options.check:
        manifest = json.load(open(os.path.join(options.check, "manifest.json")))
        bad = [c for c in manifest if not same(c["expected"], c["output"])]
        for c in bad[:10]:
            print("MISMATCH", c["input"], " ".join(c["args"]))
        print(f"{len(manifest) - len(bad)} passed, {len(bad)} failed")
        return 1 if bad else 0
    rng = np.random.default_rng(options.seed)
    folder = options.generate or tempfile.mkdtemp(prefix="relayout-diff-")
    os.makedirs(folder, exist_ok=True)
    cases = [make_case(rng, i, folder) for i in range(options.cases)]
    if options.generate:
        json.dump(cases, open(os.path.join(folder, "manifest.json"), "w"))
        return 0
    failures = 0
    for c in cases:
        run = subprocess.run([options.binary, "copy", c["input"], c["output"], *c["args"]], capture_output=True, text=True)
        if run.returncode != 0 or not same(c["expected"], c["output"]):
            failures += 1
            if failures <= 10:
                print("MISMATCH", c["input"], " ".join(c["args"]), run.stderr.strip())
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
