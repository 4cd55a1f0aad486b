"""The 57 TTC transpositions of Benchmarks/ttc-57.txt as row-major cases, for the Python scripts here.

The file is column-major (size[0] varies fastest, B dimension i = A dimension perm[i]); NumPy's and
`relayout bench`'s row-major form is shape = reversed(size), axes[k] = dim-1-perm[dim-1-k].
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def ttc_shapes():
    """[(SHAPE, PERM)] as `relayout bench --case DTYPE:SHAPE:PERM` spells them, e.g. ('7264x7264', '1,0')."""
    cases = []
    with open(os.path.join(HERE, "ttc-57.txt")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            n = list(map(int, line.split()))
            dim, perm, size = n[0], n[1 : 1 + n[0]], n[1 + n[0] : 1 + 2 * n[0]]
            shape = list(reversed(size))
            axes = [dim - 1 - perm[dim - 1 - k] for k in range(dim)]
            cases.append(("x".join(map(str, shape)), ",".join(map(str, axes))))
    return cases
