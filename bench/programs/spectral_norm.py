"""Spectral norm of an infinite matrix, by power iteration.

    python bench/programs/spectral_norm.py [SIZE]

The matrix entries come from a small function eval_A(i, j) called in the
innermost loops.
"""
import sys

N = 200
REPEAT = 5


def eval_A(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def mult_Av(v, n):
    out = []
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += eval_A(i, j) * v[j]
        out.append(total)
    return out


def mult_Atv(v, n):
    out = []
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += eval_A(j, i) * v[j]
        out.append(total)
    return out


def mult_AtAv(v, n):
    return mult_Atv(mult_Av(v, n), n)


def dot(a, b):
    total = 0.0
    for x, y in zip(a, b):
        total += x * y
    return total


def run(n):
    u = [1.0] * n
    v = u
    for _ in range(10):
        v = mult_AtAv(u, n)
        u = mult_AtAv(v, n)
    norm = (dot(u, v) / dot(v, v)) ** 0.5
    return f"{norm:.12f}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
