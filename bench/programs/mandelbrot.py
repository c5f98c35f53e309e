"""Mandelbrot set with complex arithmetic written on float pairs.

    python bench/programs/mandelbrot.py [WIDTH]

Renders a WIDTH x WIDTH/2 grid, counts escape iterations per point and
prints a checksum and the number of points inside the set.
"""
import sys

N = 380
REPEAT = 5
MAX_ITER = 100


def escape_time(cr, ci, limit):
    zr = zi = 0.0
    for i in range(limit):
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            return i
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
    return limit


def render_row(y, width, height):
    ci = -1.2 + 2.4 * y / height
    row = []
    for x in range(width):
        cr = -2.1 + 3.0 * x / width
        row.append(escape_time(cr, ci, MAX_ITER))
    return row


def render(width, height):
    return [render_row(y, width, height) for y in range(height)]


def run(n):
    width, height = n, n // 2
    image = render(width, height)
    checksum = 0
    inside = 0
    for y, row in enumerate(image):
        for x, count in enumerate(row):
            checksum = (checksum * 31 + count * (x + 1) + y) % 1_000_000_007
            if count == MAX_ITER:
                inside += 1
    return f"{checksum} {inside}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
