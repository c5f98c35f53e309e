"""A small star cluster under gravity: lists of floats and nested loops.

    python bench/programs/nbody.py [STEPS]

Each body is a list [position, velocity, mass] where position and velocity
are lists [x, y, z].  The cluster starts from a fixed pseudo-random state and
is integrated with a leapfrog (kick-drift) scheme with a softening length.
"""
import sys

N = 15_000
REPEAT = 5
BODIES = 8
SOFTENING = 0.01


def make_cluster(count, seed=12345):
    state = seed

    def next_float():
        nonlocal state
        state = (state * 1103515245 + 12345) % 2147483648
        return state / 2147483648.0 - 0.5

    bodies = []
    for _ in range(count):
        pos = [next_float() * 10.0, next_float() * 10.0, next_float() * 10.0]
        vel = [next_float() * 0.1, next_float() * 0.1, next_float() * 0.1]
        mass = 1.0 + next_float()
        bodies.append([pos, vel, mass])
    return bodies


def kick(bodies, dt):
    count = len(bodies)
    for i in range(count):
        pos_i, vel_i, mass_i = bodies[i]
        for j in range(i + 1, count):
            pos_j, vel_j, mass_j = bodies[j]
            dx = pos_i[0] - pos_j[0]
            dy = pos_i[1] - pos_j[1]
            dz = pos_i[2] - pos_j[2]
            dist2 = dx * dx + dy * dy + dz * dz + SOFTENING
            mag = dt / (dist2 * dist2 ** 0.5)
            bi = mass_j * mag
            bj = mass_i * mag
            vel_i[0] -= dx * bi
            vel_i[1] -= dy * bi
            vel_i[2] -= dz * bi
            vel_j[0] += dx * bj
            vel_j[1] += dy * bj
            vel_j[2] += dz * bj


def drift(bodies, dt):
    for pos, vel, _ in bodies:
        pos[0] += vel[0] * dt
        pos[1] += vel[1] * dt
        pos[2] += vel[2] * dt


def energy(bodies):
    e = 0.0
    count = len(bodies)
    for i in range(count):
        pos_i, vel_i, mass_i = bodies[i]
        e += 0.5 * mass_i * (vel_i[0] ** 2 + vel_i[1] ** 2 + vel_i[2] ** 2)
        for j in range(i + 1, count):
            pos_j, _, mass_j = bodies[j]
            dx = pos_i[0] - pos_j[0]
            dy = pos_i[1] - pos_j[1]
            dz = pos_i[2] - pos_j[2]
            e -= mass_i * mass_j / (dx * dx + dy * dy + dz * dz + SOFTENING) ** 0.5
    return e


def centre_of_mass(bodies):
    total = 0.0
    cx = cy = cz = 0.0
    for pos, _, mass in bodies:
        cx += pos[0] * mass
        cy += pos[1] * mass
        cz += pos[2] * mass
        total += mass
    return cx / total, cy / total, cz / total


def run(n):
    bodies = make_cluster(BODIES)
    before = energy(bodies)
    for _ in range(n):
        kick(bodies, 0.01)
        drift(bodies, 0.01)
    after = energy(bodies)
    cx, cy, cz = centre_of_mass(bodies)
    return f"{before:.12f} {after:.12f} {cx:.9f} {cy:.9f} {cz:.9f}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
