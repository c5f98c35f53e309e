"""A tiny ray tracer: a Vector class with methods, spheres, a checkered
floor, point lights with shadows and one level of reflection.

    python bench/programs/raytrace.py [WIDTH]

Renders a WIDTH x WIDTH*3/4 image and prints a checksum of the pixels and
the average brightness.
"""
import math
import sys

N = 130
REPEAT = 5
MAX_DEPTH = 2
EPSILON = 1e-6


class Vector:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y, self.z + other.z)

    def __sub__(self, other):
        return Vector(self.x - other.x, self.y - other.y, self.z - other.z)

    def __mul__(self, k):
        return Vector(self.x * k, self.y * k, self.z * k)

    def __neg__(self):
        return Vector(-self.x, -self.y, -self.z)

    def dot(self, other):
        return self.x * other.x + self.y * other.y + self.z * other.z

    def cross(self, other):
        return Vector(self.y * other.z - self.z * other.y,
                      self.z * other.x - self.x * other.z,
                      self.x * other.y - self.y * other.x)

    def length(self):
        return math.sqrt(self.dot(self))

    def normalized(self):
        return self * (1.0 / self.length())

    def times(self, other):
        """Component-wise product (for colours)."""
        return Vector(self.x * other.x, self.y * other.y, self.z * other.z)

    def reflect(self, normal):
        return self - normal * (2.0 * self.dot(normal))


BLACK = Vector(0.0, 0.0, 0.0)


class Ray:
    def __init__(self, origin, direction):
        self.origin = origin
        self.direction = direction

    def point_at(self, t):
        return self.origin + self.direction * t


class Sphere:
    def __init__(self, centre, radius, colour, reflectivity=0.0):
        self.centre = centre
        self.radius = radius
        self.colour = colour
        self.reflectivity = reflectivity

    def intersect(self, ray):
        oc = ray.origin - self.centre
        b = oc.dot(ray.direction)
        c = oc.dot(oc) - self.radius * self.radius
        disc = b * b - c
        if disc < 0.0:
            return None
        root = math.sqrt(disc)
        t = -b - root
        if t > EPSILON:
            return t
        t = -b + root
        return t if t > EPSILON else None

    def normal_at(self, point):
        return (point - self.centre).normalized()

    def colour_at(self, point):
        return self.colour


class Floor:
    def __init__(self, height, reflectivity=0.3):
        self.height = height
        self.normal = Vector(0.0, 1.0, 0.0)
        self.reflectivity = reflectivity

    def intersect(self, ray):
        dy = ray.direction.y
        if abs(dy) < EPSILON:
            return None
        t = (self.height - ray.origin.y) / dy
        return t if t > EPSILON else None

    def normal_at(self, point):
        return self.normal

    def colour_at(self, point):
        if (math.floor(point.x) + math.floor(point.z)) % 2 == 0:
            return Vector(0.9, 0.9, 0.9)
        return Vector(0.2, 0.2, 0.25)


class Light:
    def __init__(self, position, colour):
        self.position = position
        self.colour = colour


class Scene:
    def __init__(self, objects, lights, ambient=0.1):
        self.objects = objects
        self.lights = lights
        self.ambient = ambient

    def nearest(self, ray):
        best_t, best = None, None
        for obj in self.objects:
            t = obj.intersect(ray)
            if t is not None and (best_t is None or t < best_t):
                best_t, best = t, obj
        return best_t, best

    def in_shadow(self, point, light):
        to_light = light.position - point
        distance = to_light.length()
        ray = Ray(point, to_light * (1.0 / distance))
        for obj in self.objects:
            t = obj.intersect(ray)
            if t is not None and t < distance:
                return True
        return False

    def trace(self, ray, depth=0):
        t, obj = self.nearest(ray)
        if obj is None:
            return Vector(0.05, 0.05, 0.1 + 0.2 * max(ray.direction.y, 0.0))
        point = ray.point_at(t)
        normal = obj.normal_at(point)
        base = obj.colour_at(point)
        colour = base * self.ambient
        for light in self.lights:
            if self.in_shadow(point, light):
                continue
            to_light = (light.position - point).normalized()
            lambert = normal.dot(to_light)
            if lambert > 0.0:
                colour = colour + base.times(light.colour) * lambert
        if obj.reflectivity > 0.0 and depth < MAX_DEPTH:
            reflected = Ray(point, ray.direction.reflect(normal))
            colour = colour + self.trace(reflected, depth + 1) * obj.reflectivity
        return colour


class Camera:
    def __init__(self, eye, target, up, fov_degrees):
        self.eye = eye
        self.forward = (target - eye).normalized()
        self.right = self.forward.cross(up).normalized()
        self.up = self.right.cross(self.forward)
        self.scale = math.tan(math.radians(fov_degrees) / 2.0)

    def ray_for(self, x, y, width, height):
        aspect = width / height
        px = (2.0 * (x + 0.5) / width - 1.0) * aspect * self.scale
        py = (1.0 - 2.0 * (y + 0.5) / height) * self.scale
        direction = (self.forward + self.right * px + self.up * py).normalized()
        return Ray(self.eye, direction)


def to_byte(channel):
    return min(255, max(0, int(channel * 255.0 + 0.5)))


def make_scene():
    objects = [
        Sphere(Vector(0.0, 1.0, 0.0), 1.0, Vector(0.9, 0.2, 0.2), 0.2),
        Sphere(Vector(-2.2, 0.7, 1.0), 0.7, Vector(0.2, 0.8, 0.3), 0.1),
        Sphere(Vector(2.0, 0.6, -0.5), 0.6, Vector(0.3, 0.4, 0.9), 0.5),
        Sphere(Vector(0.8, 0.3, 2.0), 0.3, Vector(0.9, 0.8, 0.2)),
        Floor(0.0),
    ]
    lights = [Light(Vector(-4.0, 6.0, 5.0), Vector(0.8, 0.8, 0.8)),
              Light(Vector(5.0, 4.0, 3.0), Vector(0.3, 0.3, 0.4))]
    return Scene(objects, lights)


def render(scene, camera, width, height):
    pixels = []
    for y in range(height):
        for x in range(width):
            c = scene.trace(camera.ray_for(x, y, width, height))
            pixels.append((to_byte(c.x), to_byte(c.y), to_byte(c.z)))
    return pixels


def run(n):
    width, height = n, n * 3 // 4
    camera = Camera(Vector(0.0, 2.0, 7.0), Vector(0.0, 0.8, 0.0), Vector(0.0, 1.0, 0.0), 50.0)
    pixels = render(make_scene(), camera, width, height)
    checksum = 0
    brightness = 0
    for r, g, b in pixels:
        checksum = (checksum * 257 + r * 65536 + g * 256 + b) % 2147483647
        brightness += r + g + b
    return f"{width}x{height} {checksum} {brightness / (3 * len(pixels)):.4f}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
