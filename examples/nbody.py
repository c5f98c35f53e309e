"""N-body simulation of the outer planets (a float-heavy numeric kernel).

    python examples/nbody.py [STEPS]
    python -m restrain examples/nbody.py [STEPS]

Integrates the Sun, Jupiter, Saturn, Uranus and Neptune with a simple
symplectic Euler scheme and prints the total energy at a few checkpoints.
Each body is a list [x, y, z, vx, vy, vz, mass]; the hot functions are
`advance` (one time step), `energy` and `pair_energy`, all plain functions
of float arithmetic, called once per step or per pair.
"""

import math
import sys

PI = 3.14159265358979323
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24

DEFAULT_STEPS = 150_000
CHECKPOINTS = 5


def make_system():
    """The five bodies, positions in AU, velocities in AU/year."""
    sun = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, SOLAR_MASS]
    jupiter = [
        4.84143144246472090e+00,
        -1.16032004402742839e+00,
        -1.03622044471123109e-01,
        1.66007664274403694e-03 * DAYS_PER_YEAR,
        7.69901118419740425e-03 * DAYS_PER_YEAR,
        -6.90460016972063023e-05 * DAYS_PER_YEAR,
        9.54791938424326609e-04 * SOLAR_MASS,
    ]
    saturn = [
        8.34336671824457987e+00,
        4.12479856412430479e+00,
        -4.03523417114321381e-01,
        -2.76742510726862411e-03 * DAYS_PER_YEAR,
        4.99852801234917238e-03 * DAYS_PER_YEAR,
        2.30417297573763929e-05 * DAYS_PER_YEAR,
        2.85885980666130812e-04 * SOLAR_MASS,
    ]
    uranus = [
        1.28943695621391310e+01,
        -1.51111514016986312e+01,
        -2.23307578892655734e-01,
        2.96460137564761618e-03 * DAYS_PER_YEAR,
        2.37847173959480950e-03 * DAYS_PER_YEAR,
        -2.96589568540237556e-05 * DAYS_PER_YEAR,
        4.36624404335156298e-05 * SOLAR_MASS,
    ]
    neptune = [
        1.53796971148509165e+01,
        -2.59193146099879641e+01,
        1.79258772950371181e-01,
        2.68067772490389322e-03 * DAYS_PER_YEAR,
        1.62824170038242295e-03 * DAYS_PER_YEAR,
        -9.51592254519715870e-05 * DAYS_PER_YEAR,
        5.15138902046611451e-05 * SOLAR_MASS,
    ]
    return [sun, jupiter, saturn, uranus, neptune]


def offset_momentum(bodies):
    """Give the Sun the momentum that makes the system's total zero."""
    px = 0.0
    py = 0.0
    pz = 0.0
    for body in bodies:
        mass = body[6]
        px += body[3] * mass
        py += body[4] * mass
        pz += body[5] * mass
    sun = bodies[0]
    sun[3] = -px / SOLAR_MASS
    sun[4] = -py / SOLAR_MASS
    sun[5] = -pz / SOLAR_MASS


def advance(bodies, dt):
    """One time step: update velocities pairwise, then positions."""
    n = len(bodies)
    for i in range(n):
        b1 = bodies[i]
        x1 = b1[0]
        y1 = b1[1]
        z1 = b1[2]
        m1 = b1[6]
        for j in range(i + 1, n):
            b2 = bodies[j]
            dx = x1 - b2[0]
            dy = y1 - b2[1]
            dz = z1 - b2[2]
            d2 = dx * dx + dy * dy + dz * dz
            mag = dt / (d2 * math.sqrt(d2))
            m2 = b2[6]
            b1[3] -= dx * m2 * mag
            b1[4] -= dy * m2 * mag
            b1[5] -= dz * m2 * mag
            b2[3] += dx * m1 * mag
            b2[4] += dy * m1 * mag
            b2[5] += dz * m1 * mag
    for body in bodies:
        body[0] += dt * body[3]
        body[1] += dt * body[4]
        body[2] += dt * body[5]


def pair_energy(b1, b2):
    """Potential energy of one pair of bodies."""
    dx = b1[0] - b2[0]
    dy = b1[1] - b2[1]
    dz = b1[2] - b2[2]
    return -(b1[6] * b2[6]) / math.sqrt(dx * dx + dy * dy + dz * dz)


def energy(bodies):
    """Total (kinetic + potential) energy of the system."""
    e = 0.0
    n = len(bodies)
    for i in range(n):
        b = bodies[i]
        e += 0.5 * b[6] * (b[3] * b[3] + b[4] * b[4] + b[5] * b[5])
        for j in range(i + 1, n):
            e += pair_energy(b, bodies[j])
    return e


def simulate(bodies, steps, dt, checkpoints):
    """Run `steps` steps; return the energy at `checkpoints` even intervals."""
    every = max(1, steps // checkpoints)
    energies = []
    for step in range(1, steps + 1):
        advance(bodies, dt)
        if step % every == 0:
            energies.append((step, energy(bodies)))
    return energies


def main(argv=None):
    argv = sys.argv if argv is None else argv
    steps = int(argv[1]) if len(argv) > 1 else DEFAULT_STEPS
    bodies = make_system()
    offset_momentum(bodies)
    print(f"bodies: {len(bodies)}, steps: {steps}")
    print(f"energy at start: {energy(bodies):.9f}")
    for step, e in simulate(bodies, steps, 0.01, CHECKPOINTS):
        print(f"energy after {step:>7} steps: {e:.9f}")
    sun = bodies[0]
    print(f"sun position: ({sun[0]:.6e}, {sun[1]:.6e}, {sun[2]:.6e})")


if __name__ == "__main__":
    main()
