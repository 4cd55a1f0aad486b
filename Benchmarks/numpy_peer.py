#!/usr/bin/env python3
"""NumPy on the same cases as `relayout bench`, so the ratio to NumPy is one command away.

For each case DTYPE:SHAPE:PERM it times, single-threaded as NumPy runs:
  copyto   np.copyto(dst, src.transpose(PERM)) into a preallocated, touched destination
  ascontig np.ascontiguousarray(src.transpose(PERM)), allocation included
and prints GB/s counting bytes read plus bytes written (medians of --repeats runs). With --torch it
also times PyTorch on the same threads as `relayout bench` (all cores unless --torch-threads):
  copy_    dst.copy_(src.permute(PERM)) into a preallocated, touched tensor
  contig   src.permute(PERM).contiguous(), allocation included

    python3 Benchmarks/numpy_peer.py                       # the ttc suite
    python3 Benchmarks/numpy_peer.py --case f4:7264x7264:1,0
    .build/release/relayout bench --json > relayout.json
    python3 Benchmarks/numpy_peer.py --relayout relayout.json   # adds relayout/NumPy ratios
    python3 Benchmarks/numpy_peer.py --relayout relayout.json --torch   # and PyTorch (pip install torch)
"""
import argparse, json, os, statistics, sys, time
import numpy as np

from ttc_cases import ttc_shapes


def ttc_cases():
    return [f"f4:{shape}:{perm}" for shape, perm in ttc_shapes()]


def small_cases():
    cases = []
    for log2 in range(10, 23, 2):
        n = (1 << log2) // 4
        side = int(n ** 0.5)
        cases += [f"f4:{n}:0", f"f4:{side}x{side}:1,0"]
    return cases


def parse(case):
    """DTYPE:SHAPE:PERM, optionally followed by [INDEX] (NumPy basic indexing after the transpose)."""
    index = None
    if "[" in case:
        case, index = case[:case.index("[")], case[case.index("[") + 1:-1]
    dtype, shape, perm = case.split(":")
    return np.dtype(dtype), tuple(int(s) for s in shape.split("x")), tuple(int(p) for p in perm.split(",")), index


def view_of(src, perm, index):
    view = src.transpose(perm)
    return view if index is None else view[eval("np.s_[" + index + "]")]


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# The same workloads as `relayout bench --suite deepcopy|loader`.
DEEPCOPY_SIZES = [(300, 1 << 10), (60, 64 << 10), (20, 1 << 20), (12, 8 << 20), (6, 16 << 20), (2, 64 << 20)]
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def workload(name, repeats):
    import copy
    if name == "deepcopy":
        state, total = {}, 0
        for count, nbytes in DEEPCOPY_SIZES:
            for _ in range(count):
                a = np.full((nbytes // 4 // 64, 64), 7, dtype=np.float32)
                state[f"param.{len(state)}"] = a
                total += a.nbytes
        seconds = median_seconds(lambda: copy.deepcopy(state), repeats)
        print(f"numpy copy.deepcopy of a dict of {len(state)} arrays, {total >> 20} MiB: {seconds:.5f} s, {2 * total / seconds / 1e9:.2f} GB/s (read + written)")
    else:
        samples = [np.full((224, 224, 3), k % 256, dtype=np.uint8) for k in range(256)]
        def pipeline():
            batch = np.stack(samples).transpose(0, 3, 1, 2).astype(np.float32)
            batch /= 255.0
            batch -= MEAN[None, :, None, None]
            batch /= STD[None, :, None, None]
            return batch
        seconds = median_seconds(pipeline, repeats)
        traffic = 256 * 224 * 224 * 3 * 5
        print(f"numpy stack/transpose/astype/normalise of 256 x 224x224x3 uint8: {seconds:.5f} s, {traffic / seconds / 1e9:.2f} GB/s (input read + output written)")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", choices=["ttc", "small", "deepcopy", "loader"], default="ttc")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--relayout", help="JSON from `relayout bench --json` on the same cases")
    parser.add_argument("--torch", action="store_true", help="also time PyTorch's copy_ and permute().contiguous()")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count(), help="PyTorch intra-op threads (default: all cores)")
    options = parser.parse_args()
    torch = None
    if options.torch:
        try:
            import torch
        except ImportError:
            print("numpy_peer.py: --torch needs PyTorch (pip install torch)", file=sys.stderr)
            return 2
        torch.set_num_threads(options.torch_threads)
    if options.suite in ("deepcopy", "loader") and not options.case:
        return workload(options.suite, options.repeats)
    cases = options.case or (ttc_cases() if options.suite == "ttc" else small_cases())
    ours = {}
    if options.relayout:
        ours = {r["case"]: r for r in json.load(open(options.relayout))}
    header = f"{'case':34} {'bytes':>11} {'copyto GB/s':>12} {'ascontig GB/s':>14}"
    if torch:
        header += f" {'torch copy_':>12} {'torch contig':>13}"
    if ours:
        header += "  relayout/copyto  contiguous/ascontig" + ("  copy/copy_  contiguous/torch" if torch else "")
    print(header)
    copy_ratios, contig_ratios, ceiling_ratios, copyto_all, ascontig_all = [], [], [], [], []
    fresh_ratios, fresh_torch_ratios = [], []
    torch_copy_all, torch_contig_all, torch_copy_ratios, torch_contig_ratios = [], [], [], []
    for case in cases:
        dtype, shape, perm, index = parse(case)
        src = np.full(shape, 1, dtype=dtype)
        view = view_of(src, perm, index)
        dst = np.empty(view.shape, dtype=dtype)
        dst.fill(0)
        nbytes = view.nbytes
        copyto = 2 * nbytes / median_seconds(lambda: np.copyto(dst, view), options.repeats) / 1e9
        ascontig = 2 * nbytes / median_seconds(lambda: np.ascontiguousarray(view), options.repeats) / 1e9
        copyto_all.append(copyto)
        ascontig_all.append(ascontig)
        line = f"{case:34} {nbytes:>11} {copyto:>12.2f} {ascontig:>14.2f}"
        if torch and index is not None:
            # PyTorch has no negative steps; indexed cases are NumPy's only.
            line += f" {'-':>12} {'-':>13}"
        elif torch:
            tsrc = torch.from_numpy(src)
            tdst = torch.from_numpy(dst)
            torch_copy = 2 * nbytes / median_seconds(lambda: tdst.copy_(tsrc.permute(perm)), options.repeats) / 1e9
            torch_contig = 2 * nbytes / median_seconds(lambda: tsrc.permute(perm).contiguous(), options.repeats) / 1e9
            torch_copy_all.append(torch_copy)
            torch_contig_all.append(torch_contig)
            line += f" {torch_copy:>12.2f} {torch_contig:>13.2f}"
        if case in ours:
            r = ours[case]
            copy_ratios.append(r["gbps"] / copyto)
            contig_ratios.append(r["contiguousGbps"] / ascontig)
            if r.get("freshMemcpyGbps"):
                ceiling_ratios.append(r["freshMemcpyGbps"] / ascontig)
            if r.get("contiguousFreshPagesGbps"):
                fresh_ratios.append(r["contiguousFreshPagesGbps"] / ascontig)
                if torch:
                    fresh_torch_ratios.append(r["contiguousFreshPagesGbps"] / torch_contig)
            line += f"  {copy_ratios[-1]:>15.2f}  {contig_ratios[-1]:>19.2f}"
            if torch:
                torch_copy_ratios.append(r["gbps"] / torch_copy)
                torch_contig_ratios.append(r["contiguousGbps"] / torch_contig)
                line += f"  {torch_copy_ratios[-1]:>10.2f}  {torch_contig_ratios[-1]:>15.2f}"
        print(line, flush=True)
    gm = lambda xs: float(np.exp(np.mean(np.log(xs))))
    summary = f"geometric mean: copyto {gm(copyto_all):.2f} GB/s, ascontiguousarray {gm(ascontig_all):.2f} GB/s"
    if copy_ratios:
        summary += f"; relayout copy / copyto {gm(copy_ratios):.2f}x, contiguous() / ascontiguousarray {gm(contig_ratios):.2f}x"
    if torch:
        summary += f"; torch ({options.torch_threads} threads) copy_ {gm(torch_copy_all):.2f} GB/s, permute().contiguous() {gm(torch_contig_all):.2f} GB/s"
    if torch_copy_ratios:
        summary += f"; relayout copy / copy_ {gm(torch_copy_ratios):.2f}x, contiguous() / torch contiguous() {gm(torch_contig_ratios):.2f}x"
    if fresh_ratios:
        # From `relayout bench --allocation`: contiguous() with no freed result's pages reused.
        summary += f"; contiguous() into fresh pages / ascontiguousarray {gm(fresh_ratios):.2f}x"
        if fresh_torch_ratios:
            summary += f", / torch contiguous() {gm(fresh_torch_ratios):.2f}x"
    if ceiling_ratios:
        # From `relayout bench --allocation`: what no allocating copy can beat on this machine.
        summary += f"; ceiling (memcpy into fresh huge pages) / ascontiguousarray {gm(ceiling_ratios):.2f}x"
    print(summary)


if __name__ == "__main__":
    sys.exit(main())
