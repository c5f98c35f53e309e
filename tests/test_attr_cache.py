"""Attribute caches (restrain_abi.h rs_load_attr_cached / rs_store_attr_cached):
each LOAD_ATTR / STORE_ATTR site remembers where it found an instance
attribute, keyed by the type's version tag.  Every way of invalidating that
is tested differentially after the cache has been filled: the class changed
(a property or a data descriptor added), an instance with its own __dict__,
a deleted attribute, an unset slot, another class at the same site,
__getattr__ / __getattribute__, and stores that add attributes.
"""
from __future__ import annotations

from difftest import Fresh, Shared, compiled_pair


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


def test_instances_with_a_dict_of_their_own():
    # copies (copy, pickle) and instances whose vars() was taken keep their
    # attributes in a dict: read from it as 3.11's LOAD_ATTR_WITH_HINT does,
    # falling back to the class, __getattr__ or an AttributeError
    import copy

    class Local:
        y = "class y"

        def __init__(self):
            self.x = 1

    pair = compiled_pair(read)
    warm(pair, Point(1, 2))
    pair.check(copy.copy(Point(3, 4)))
    p = Point(5, 6)
    vars(p)[7] = "a key that is not a str"
    pair.check(p)
    warm(pair, Local())
    local = Local()
    vars(local)["x"] = 2                 # y only on the class
    pair.check(local)
    def fallback():
        f = Fallback()
        vars(f)
        return f

    pair.check(Fresh(fallback))          # y from __getattr__


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


# -- method caches (rs_load_method_cached): LOAD_METHOD sites ------------------------

class Shape:
    def area(self):
        return 1

    def describe(self, k):
        return ("shape", self.area() * k)


class Square(Shape):
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


class Circle(Shape):
    def __init__(self, r):
        self.r = r

    def area(self):
        return 3 * self.r * self.r


class SlottedShape:
    __slots__ = ("side",)

    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side + 100


def call_area(o):
    return o.area()


def call_describe(o, k):
    return o.describe(k)


def several(objs):
    return [o.area() for o in objs] + [call_area(o) for o in objs]


def test_a_class_with_its_own_setattr_sees_every_store():
    # the cache once filled a store site for such a class, after which
    # stores went straight into the instance: __setattr__ ran once in 30
    class Counting:
        def __init__(self):
            self.x = 0
            self.y = 0

        def __setattr__(self, name, value):
            object.__setattr__(self, name, value)
            object.__setattr__(self, "stores", getattr(self, "stores", 0) + 1)

    pair = compiled_pair(write)
    for _ in range(30):
        pair.check(Counting(), 1)
    counted = Counting()
    with pair.side(True) as fn:
        for v in range(10):
            fn(counted, v)
    assert counted.stores == 2 + 10 * 2       # __init__'s two stores, then two per call


def test_methods_after_the_class_changes():
    class Local:
        def m(self):
            return "first"

    def call_m(o):
        return o.m()

    pair = compiled_pair(call_m)
    warm(pair, Local())
    Local.m = lambda self: "rebound"                     # the class's method replaced
    pair.check(Local())
    del Local.m
    pair.check(Local())                                  # AttributeError now
    Local.m = staticmethod(lambda: "static")
    pair.check(Local())
    Local.m = classmethod(lambda cls: cls.__name__)
    pair.check(Local())
    Local.m = property(lambda self: lambda: "property")  # a data descriptor
    pair.check(Local())


def test_a_base_class_method_replaced_after_the_fill():
    class Base:
        def m(self):
            return "base"

    class Derived(Base):
        pass

    def call_m(o):
        return o.m()

    pair = compiled_pair(call_m)
    warm(pair, Derived())
    Base.m = lambda self: "changed in the base"
    pair.check(Derived())
    Derived.m = lambda self: "overridden later"
    pair.check(Derived())


def test_an_instance_attribute_shadows_the_method():
    class Local:
        def __init__(self):
            self.a = 1

        def m(self):
            return "method"

    def call_m(o):
        return o.m()

    pair = compiled_pair(call_m)
    warm(pair, Local())

    def shadowed():
        o = Local()
        o.m = lambda: "instance attribute"               # the shared keys grow by "m"
        return o

    pair.check(Fresh(shadowed))
    pair.check(Local())                                  # no "m" value of its own

    def materialised():
        o = Local()
        vars(o)["m"] = lambda: "in a real __dict__"
        return o

    pair.check(Fresh(materialised))


def test_polymorphic_sites_keep_each_class_and_overflow_safely():
    pair = compiled_pair(several)
    objs = [Square(2), Circle(1), SlottedShape(3), Shape(), "text"]
    for _ in range(20):
        pair.check([Square(2), Circle(1), SlottedShape(3), Shape()])
    pair.check(objs[:4])
    pair.check(objs)                                     # str has no area(): AttributeError
    classes = [type(f"K{i}", (Shape,), {"area": (lambda i: lambda self: i)(i)}) for i in range(12)]
    for _ in range(10):                                  # more classes than ways: stops filling
        pair.check([k() for k in classes])
    pair.check([Square(5), Circle(2)])


def test_inherited_methods_and_methods_calling_methods():
    pair = compiled_pair(call_describe)
    for _ in range(30):
        pair.check(Square(3), 2)
        pair.check(Circle(2), 3)
    pair.check(Shape(), 4)
    pair.check(SlottedShape(1), 1)                       # no describe(): AttributeError


def test_builtin_methods():
    def use(s, d, xs):
        out = s.upper() + s.join(["a", "b"])
        xs.append(d.get("k", 0))
        xs.append(d.get("missing", -1))
        return out, xs, s.split()

    pair = compiled_pair(use)
    for _ in range(30):
        pair.check("x y", {"k": 1}, [0])

    class MyStr(str):
        def upper(self):
            return "overridden"

    class MyDict(dict):
        def get(self, k, default=None):
            return ("mine", k)

    pair.check(MyStr("p q"), MyDict(), [])
    pair.check(b"x y", {"k": 2}, [])                     # bytes.join wants bytes: TypeError


# -- module attributes (rs_module_entry): LOAD_ATTR and LOAD_METHOD of a module --------

def module_reads(mod):
    return mod.value, mod.func(2), mod.func


def test_module_attributes_follow_rebinding_and_deletion():
    import types

    mod = types.ModuleType("restrain_test_module")
    mod.value = 1
    mod.func = lambda x: x * 10
    pair = compiled_pair(module_reads)
    for _ in range(30):
        pair.check(Shared(mod))
    mod.value = "rebound"
    mod.func = lambda x: ("new", x)
    pair.check(Shared(mod))
    for i in range(100):                                 # the module dict is resized
        setattr(mod, f"extra{i}", i)
    mod.value = 3
    pair.check(Shared(mod))
    del mod.func
    pair.check(Shared(mod))                              # AttributeError with the module's message
    mod.__getattr__ = lambda name: f"module __getattr__ {name}"
    pair.check(Shared(mod))
    del mod.value
    pair.check(Shared(mod))
    other = types.ModuleType("restrain_other_module")
    other.value, other.func = 7, len
    pair.check(Shared(other))                            # another module at the same site
    pair.check(Shared(types.SimpleNamespace(value=1, func=abs)))   # not a module


def read_func(mod):
    return mod.func


def test_a_module_dict_keys_object_reused_at_the_same_address():
    """The cache compares the dict's keys object by address only: once it
    is freed, another module's dict may get the same memory, with another
    name at the cached index (pymalloc hands the block freed last to the
    next allocation of its size, so this happens here)."""
    import types

    a = types.ModuleType("restrain_test_a")
    a.func = "a's func"
    for i in range(4):
        setattr(a, f"a{i}", i)
    pair = compiled_pair(read_func)
    for _ in range(30):
        pair.check(Shared(a))
    for i in range(4, 40):                               # a's keys object resized away, freed
        setattr(a, f"a{i}", i)
    b = types.ModuleType("restrain_test_b")
    b.other = "b's other, where a's func was"
    for i in range(4):
        setattr(b, f"b{i}", i)
    pair.check(Shared(b))                                # AttributeError, not b.other


def add_in_order(o, first, second):
    setattr_order = []
    o.b = first
    o.a = second
    setattr_order.append(list(vars(o)))
    o.c = first + second
    return setattr_order, list(vars(o)), vars(o)


def test_added_attributes_keep_their_insertion_order():
    """Stores that add an inline value (rs_store_attr_cached's empty place)
    put it in the instance's insertion order as the interpreter does:
    vars() lists attributes in the order they were first set."""
    class Local:
        def __init__(self):
            self.a = 0
            self.b = 0
            self.c = 0

    pair = compiled_pair(add_in_order)
    for _ in range(30):
        pair.check(Local(), 1, 2)                        # fills the caches
    for _ in range(3):
        pair.check(Local.__new__(Local), 3, 4)           # b, a, c added in that order
    o = Local.__new__(Local)
    o.c = 9
    pair.check(o, 5, 6)
