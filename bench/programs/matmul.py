"""Matrix multiplication on lists of lists of floats.

    python bench/programs/matmul.py [SIZE]

Builds two SIZE x SIZE matrices, multiplies them (row by row, i-k-j order),
multiplies the product by a third one with the textbook i-j-k loops, and
prints checksums of the results.
"""
import sys

N = 135
REPEAT = 5


def make_matrix(rows, cols, seed):
    matrix = []
    value = seed
    for _ in range(rows):
        row = []
        for _ in range(cols):
            value = (value * 48271) % 2147483647
            row.append((value % 2000) / 1000.0 - 1.0)
        matrix.append(row)
    return matrix


def transpose(m):
    return [list(column) for column in zip(*m)]


def matmul_ikj(a, b):
    n, inner, m = len(a), len(b), len(b[0])
    result = []
    for i in range(n):
        row = [0.0] * m
        a_row = a[i]
        for k in range(inner):
            a_ik = a_row[k]
            b_row = b[k]
            for j in range(m):
                row[j] += a_ik * b_row[j]
        result.append(row)
    return result


def row_dot(x, y):
    total = 0.0
    for k in range(len(x)):
        total += x[k] * y[k]
    return total


def matmul_dot(a, b):
    bt = transpose(b)
    return [[row_dot(row, column) for column in bt] for row in a]


def checksum(m):
    total = 0.0
    weight = 1.0
    for row in m:
        for x in row:
            total += x * weight
            weight = -weight * 0.999
    return total


def run(n):
    a = make_matrix(n, n, 1)
    b = make_matrix(n, n, 2)
    c = make_matrix(n, n, 3)
    ab = matmul_ikj(a, b)
    abc = matmul_dot(ab, c)
    trace = 0.0
    for i in range(n):
        trace += abc[i][i]
    return f"{checksum(ab):.10f} {checksum(abc):.10f} {trace:.10f}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
