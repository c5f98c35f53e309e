"""Particles bouncing in a box (an object-heavy simulation).

    python examples/particles.py [STEPS]
    python -m restrain examples/particles.py [STEPS]

Discs move in a rectangular box, bounce off the walls and collide
elastically with each other.  Collisions are found with a uniform grid kept
in a dict of lists.  Everything is classes, methods, attribute access and
lists of objects: `Particle.move`, `Particle.bounce`, `Particle.overlaps`,
`Grid.insert`, `Grid.neighbours`, `World.collide` and `World.step` are the
hot code.  The random start comes from random.Random(seed), so the output is
the same on every run.
"""

import math
import random
import sys

DEFAULT_STEPS = 800
PARTICLES = 300
REPORTS = 5


class Vec:
    """A 2-D vector; a new object per operation, as plain Python code does."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def sub(self, other):
        return Vec(self.x - other.x, self.y - other.y)

    def scale(self, k):
        return Vec(self.x * k, self.y * k)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    def length(self):
        return math.sqrt(self.x * self.x + self.y * self.y)


class Particle:
    def __init__(self, ident, pos, vel, radius):
        self.ident = ident
        self.pos = pos
        self.vel = vel
        self.radius = radius
        self.mass = radius * radius
        self.hits = 0

    def move(self, dt):
        self.pos = self.pos.add(self.vel.scale(dt))

    def bounce(self, width, height):
        """Reflect off the walls; return how many walls were hit."""
        hit = 0
        r = self.radius
        if self.pos.x < r:
            self.pos.x = 2 * r - self.pos.x
            self.vel.x = -self.vel.x
            hit += 1
        elif self.pos.x > width - r:
            self.pos.x = 2 * (width - r) - self.pos.x
            self.vel.x = -self.vel.x
            hit += 1
        if self.pos.y < r:
            self.pos.y = 2 * r - self.pos.y
            self.vel.y = -self.vel.y
            hit += 1
        elif self.pos.y > height - r:
            self.pos.y = 2 * (height - r) - self.pos.y
            self.vel.y = -self.vel.y
            hit += 1
        return hit

    def overlaps(self, other):
        d = self.pos.sub(other.pos)
        reach = self.radius + other.radius
        return d.dot(d) < reach * reach

    def kinetic_energy(self):
        return 0.5 * self.mass * self.vel.dot(self.vel)


class Grid:
    """Particles by cell, to look for collisions only among neighbours."""

    def __init__(self, cell):
        self.cell = cell
        self.cells = {}

    def key(self, particle):
        return (int(particle.pos.x // self.cell), int(particle.pos.y // self.cell))

    def insert(self, particle):
        key = self.key(particle)
        bucket = self.cells.get(key)
        if bucket is None:
            bucket = []
            self.cells[key] = bucket
        bucket.append(particle)

    def neighbours(self, particle):
        """Particles in the 3x3 cells around `particle` with a larger ident."""
        cx, cy = self.key(particle)
        found = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                bucket = self.cells.get((cx + dx, cy + dy))
                if bucket is None:
                    continue
                for other in bucket:
                    if other.ident > particle.ident:
                        found.append(other)
        return found


class World:
    def __init__(self, count, width, height, seed):
        rng = random.Random(seed)
        self.width = width
        self.height = height
        self.particles = []
        self.wall_hits = 0
        self.collisions = 0
        for ident in range(count):
            radius = rng.uniform(0.5, 1.5)
            pos = Vec(rng.uniform(radius, width - radius), rng.uniform(radius, height - radius))
            angle = rng.uniform(0.0, 2.0 * math.pi)
            speed = rng.uniform(1.0, 8.0)
            vel = Vec(speed * math.cos(angle), speed * math.sin(angle))
            self.particles.append(Particle(ident, pos, vel, radius))

    def collide(self, a, b):
        """Elastic collision of two overlapping discs; False if they separate."""
        normal = b.pos.sub(a.pos)
        try:
            normal = normal.scale(1.0 / normal.length())
        except ZeroDivisionError:
            normal = Vec(1.0, 0.0)
        closing = a.vel.sub(b.vel).dot(normal)
        if closing <= 0.0:
            return False
        impulse = 2.0 * closing / (a.mass + b.mass)
        a.vel = a.vel.sub(normal.scale(impulse * b.mass))
        b.vel = b.vel.add(normal.scale(impulse * a.mass))
        a.hits += 1
        b.hits += 1
        return True

    def step(self, dt):
        grid = Grid(3.0)
        for p in self.particles:
            p.move(dt)
            self.wall_hits += p.bounce(self.width, self.height)
            grid.insert(p)
        for p in self.particles:
            for other in grid.neighbours(p):
                if p.overlaps(other) and self.collide(p, other):
                    self.collisions += 1

    def energy(self):
        total = 0.0
        for p in self.particles:
            total += p.kinetic_energy()
        return total

    def centroid(self):
        sx = 0.0
        sy = 0.0
        for p in self.particles:
            sx += p.pos.x
            sy += p.pos.y
        n = len(self.particles)
        return Vec(sx / n, sy / n)

    def busiest(self, count):
        ranked = sorted(self.particles, key=hits_then_ident)
        return ranked[:count]


def hits_then_ident(particle):
    return (-particle.hits, particle.ident)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    steps = int(argv[1]) if len(argv) > 1 else DEFAULT_STEPS
    world = World(PARTICLES, 120.0, 80.0, seed=2024)
    print(f"particles: {len(world.particles)}, steps: {steps}")
    print(f"energy at start: {world.energy():.6f}")
    every = max(1, steps // REPORTS)
    for step in range(1, steps + 1):
        world.step(0.02)
        if step % every == 0:
            c = world.centroid()
            print(f"step {step:>5}: energy={world.energy():.6f} "
                  f"collisions={world.collisions} wall_hits={world.wall_hits} "
                  f"centroid=({c.x:.4f}, {c.y:.4f})")
    for p in world.busiest(3):
        print(f"particle {p.ident:>3}: {p.hits} collisions, "
              f"radius {p.radius:.3f}, at ({p.pos.x:.3f}, {p.pos.y:.3f})")


if __name__ == "__main__":
    main()
