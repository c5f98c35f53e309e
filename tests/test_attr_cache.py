"""Attribute caches (restrain_abi.h rs_load_attr_cached / rs_store_attr_cached):
each LOAD_ATTR / STORE_ATTR site remembers where it found an instance
attribute, keyed by the type's version tag.  Every way of invalidating that
is tested differentially after the cache has been filled: the class changed
(a property or a data descriptor added), an instance with its own __dict__,
a deleted attribute, an unset slot, another class at the same site,
__getattr__ / __getattribute__, and stores that add attributes.
"""
from __future__ import annotations

from difftest import Fresh, compiled_pair


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y=None):
        self.x = x
        if y is not None:
            self.y = y


class Child(Point):
    pass


class Fallback:
    def __init__(self):
        self.x = 1

    def __getattr__(self, name):
        return f"fallback {name}"


class Intercept:
    def __init__(self):
        self.x = 1

    def __getattribute__(self, name):
        return f"intercepted {name}"


def read(o):
    return o.x, o.y


def read_x(o):
    return o.x


def write(o, v):
    o.x = v
    o.y = v + 1
    return o.x, o.y, sorted(vars(o)) if hasattr(o, "__dict__") else None


def warm(pair, *objs, times=30):
    for _ in range(times):
        for o in objs:
            pair.check(o)


def test_instance_attributes_after_the_class_changes():
    class Local:
        def __init__(self):
            self.x, self.y = 1, 2

    pair = compiled_pair(read)
    warm(pair, Local())
    Local.x = property(lambda self: "property wins", lambda self, v: None)   # a data descriptor now
    pair.check(Local())
    del Local.x
    pair.check(Local())
    Local.y = 5                                          # a class attribute: the instance's wins
    pair.check(Local())


def test_materialised_dict_deleted_attribute_and_other_classes():
    pair = compiled_pair(read)
    warm(pair, Point(1, 2))
    p = Point(3, 4)
    vars(p)["x"] = 10                                    # the instance dict is materialised
    pair.check(p)
    q = Point(5, 6)
    del q.y
    pair.check(q)                                        # AttributeError, same message and line
    pair.check(Child(7, 8))
    pair.check(Slotted(1, 2))
    pair.check(Slotted(1))                               # unset slot: AttributeError
    pair.check(3)                                        # int has no .x
    warm(pair, Slotted(1, 2), times=5)
    pair.check(Point(9, 10))


def test_getattr_and_getattribute():
    pair = compiled_pair(read_x)
    warm(pair, Point(1, 2))
    pair.check(Fresh(Fallback))

    def without_x():
        f = Fallback()
        del f.x
        return f

    pair.check(Fresh(without_x))
    pair.check(Fresh(Intercept))


def test_slots_are_read_and_written_in_place():
    rpair = compiled_pair(read)
    warm(rpair, Slotted(1, 2))
    rpair.check(Slotted(3))
    wpair = compiled_pair(write)
    for _ in range(30):
        wpair.check(Slotted(1, 2), 5)
    wpair.check(Slotted(1), 6)                           # y unset before the store


def test_stores_replace_add_and_respect_descriptors():
    class Local:
        def __init__(self):
            self.x = 0
            self.y = 0

    pair = compiled_pair(write)
    for _ in range(30):
        pair.check(Local(), 1)
    fresh = Local.__new__(Local)                         # no attributes yet: added in order
    pair.check(fresh, 2)
    log = []
    Local.x = property(lambda self: "get", lambda self, v: log.append(v))
    pair.check(Local.__new__(Local), 3)
    del Local.x
    pair.check(Local(), 4)
