"""A small incremental one-way constraint solver in the style of DeltaBlue.

    python bench/programs/deltablue.py [SIZE]

Variables are linked by constraints of different strengths (stay, edit,
equality, scale-and-offset).  Adding or removing a constraint re-plans the
affected part of the graph with walkabout strengths; a plan is an ordered
list of constraints that recomputes the variables from the edited inputs.
Two workloads: a long chain of equalities driven from one end, and a
projection of many variables through a shared scale and offset.
"""
import sys

N = 9_000
REPEAT = 5

# strengths: a smaller number is stronger
REQUIRED, STRONG_PREFERRED, PREFERRED, STRONG_DEFAULT, NORMAL, WEAK_DEFAULT, WEAKEST = range(7)
NONE, FORWARD, BACKWARD = 0, 1, 2


def stronger(a, b):
    return a < b


def weaker(a, b):
    return a > b


def weakest_of(a, b):
    return a if a > b else b


class Variable:
    def __init__(self, name, value=0):
        self.name = name
        self.value = value
        self.constraints = []
        self.determined_by = None
        self.mark = 0
        self.walk_strength = WEAKEST
        self.stay = True

    def add_constraint(self, c):
        self.constraints.append(c)

    def remove_constraint(self, c):
        self.constraints.remove(c)
        if self.determined_by is c:
            self.determined_by = None


class Constraint:
    def __init__(self, planner, strength):
        self.planner = planner
        self.strength = strength

    def add(self):
        self.add_to_graph()
        self.planner.incremental_add(self)

    def destroy(self):
        if self.is_satisfied():
            self.planner.incremental_remove(self)
        else:
            self.remove_from_graph()

    def is_input(self):
        return False

    def satisfy(self, mark):
        """Try to satisfy this constraint; return the constraint it overrode."""
        self.choose_method(mark)
        if not self.is_satisfied():
            if self.strength == REQUIRED:
                raise RuntimeError("could not satisfy a required constraint")
            return None
        self.mark_inputs(mark)
        out = self.output()
        overridden = out.determined_by
        if overridden is not None:
            overridden.mark_unsatisfied()
        out.determined_by = self
        if not self.planner.add_propagate(self, mark):
            raise RuntimeError("cycle encountered")
        out.mark = mark
        return overridden


class UnaryConstraint(Constraint):
    def __init__(self, planner, variable, strength):
        super().__init__(planner, strength)
        self.variable = variable
        self.satisfied = False
        self.add()

    def add_to_graph(self):
        self.variable.add_constraint(self)
        self.satisfied = False

    def remove_from_graph(self):
        self.variable.remove_constraint(self)
        self.satisfied = False

    def choose_method(self, mark):
        v = self.variable
        self.satisfied = v.mark != mark and stronger(self.strength, v.walk_strength)

    def is_satisfied(self):
        return self.satisfied

    def mark_unsatisfied(self):
        self.satisfied = False

    def mark_inputs(self, mark):
        pass

    def inputs_known(self, mark):
        return True

    def output(self):
        return self.variable

    def recalculate(self):
        v = self.variable
        v.walk_strength = self.strength
        v.stay = not self.is_input()
        if v.stay:
            self.execute()

    def execute(self):
        pass


class StayConstraint(UnaryConstraint):
    """Keep a variable's value unless something stronger changes it."""


class EditConstraint(UnaryConstraint):
    """Marks a variable the user is about to change."""

    def is_input(self):
        return True


class BinaryConstraint(Constraint):
    def __init__(self, planner, v1, v2, strength, add=True):
        super().__init__(planner, strength)
        self.v1 = v1
        self.v2 = v2
        self.direction = NONE
        if add:
            self.add()

    def add_to_graph(self):
        self.v1.add_constraint(self)
        self.v2.add_constraint(self)
        self.direction = NONE

    def remove_from_graph(self):
        self.v1.remove_constraint(self)
        self.v2.remove_constraint(self)
        self.direction = NONE

    def choose_method(self, mark):
        v1, v2 = self.v1, self.v2
        if v1.mark == mark:
            ok = v2.mark != mark and stronger(self.strength, v2.walk_strength)
            self.direction = FORWARD if ok else NONE
        elif v2.mark == mark:
            ok = v1.mark != mark and stronger(self.strength, v1.walk_strength)
            self.direction = BACKWARD if ok else NONE
        elif weaker(v1.walk_strength, v2.walk_strength):
            self.direction = BACKWARD if stronger(self.strength, v1.walk_strength) else NONE
        else:
            self.direction = FORWARD if stronger(self.strength, v2.walk_strength) else NONE

    def is_satisfied(self):
        return self.direction != NONE

    def mark_unsatisfied(self):
        self.direction = NONE

    def input(self):
        return self.v1 if self.direction == FORWARD else self.v2

    def output(self):
        return self.v2 if self.direction == FORWARD else self.v1

    def mark_inputs(self, mark):
        self.input().mark = mark

    def inputs_known(self, mark):
        i = self.input()
        return i.mark == mark or i.stay or i.determined_by is None

    def recalculate(self):
        source, out = self.input(), self.output()
        out.walk_strength = weakest_of(self.strength, source.walk_strength)
        out.stay = source.stay
        if out.stay:
            self.execute()


class EqualityConstraint(BinaryConstraint):
    def execute(self):
        self.output().value = self.input().value


class ScaleConstraint(BinaryConstraint):
    """v2 = v1 * scale + offset, or backwards."""

    def __init__(self, planner, source, scale, offset, dest, strength):
        super().__init__(planner, source, dest, strength, add=False)
        self.scale = scale
        self.offset = offset
        self.add()

    def add_to_graph(self):
        super().add_to_graph()
        self.scale.add_constraint(self)
        self.offset.add_constraint(self)

    def remove_from_graph(self):
        super().remove_from_graph()
        self.scale.remove_constraint(self)
        self.offset.remove_constraint(self)

    def mark_inputs(self, mark):
        super().mark_inputs(mark)
        self.scale.mark = self.offset.mark = mark

    def execute(self):
        if self.direction == FORWARD:
            self.v2.value = self.v1.value * self.scale.value + self.offset.value
        else:
            self.v1.value = (self.v2.value - self.offset.value) // self.scale.value

    def recalculate(self):
        source, out = self.input(), self.output()
        out.walk_strength = weakest_of(self.strength, source.walk_strength)
        out.stay = source.stay and self.scale.stay and self.offset.stay
        if out.stay:
            self.execute()


class Planner:
    def __init__(self):
        self.current_mark = 0

    def new_mark(self):
        self.current_mark += 1
        return self.current_mark

    def incremental_add(self, c):
        mark = self.new_mark()
        overridden = c.satisfy(mark)
        while overridden is not None:
            overridden = overridden.satisfy(mark)

    def incremental_remove(self, c):
        out = c.output()
        c.mark_unsatisfied()
        c.remove_from_graph()
        unsatisfied = self.remove_propagate_from(out)
        for strength in range(REQUIRED, WEAKEST):
            for u in unsatisfied:
                if u.strength == strength:
                    self.incremental_add(u)

    def add_propagate(self, c, mark):
        todo = [c]
        while todo:
            d = todo.pop()
            if d.output().mark == mark:
                self.incremental_remove(c)
                return False
            d.recalculate()
            self.add_constraints_consuming(d.output(), todo)
        return True

    def remove_propagate_from(self, out):
        out.determined_by = None
        out.walk_strength = WEAKEST
        out.stay = True
        unsatisfied = []
        todo = [out]
        while todo:
            v = todo.pop()
            for c in v.constraints:
                if not c.is_satisfied():
                    unsatisfied.append(c)
            determining = v.determined_by
            for c in v.constraints:
                if c is not determining and c.is_satisfied():
                    c.recalculate()
                    todo.append(c.output())
        return unsatisfied

    def add_constraints_consuming(self, v, todo):
        determining = v.determined_by
        for c in v.constraints:
            if c is not determining and c.is_satisfied():
                todo.append(c)

    def make_plan(self, sources):
        mark = self.new_mark()
        plan = []
        todo = list(sources)
        while todo:
            c = todo.pop()
            out = c.output()
            if out.mark != mark and c.inputs_known(mark):
                plan.append(c)
                out.mark = mark
                self.add_constraints_consuming(out, todo)
        return plan

    def plan_for_inputs(self, constraints):
        return self.make_plan([c for c in constraints if c.is_input() and c.is_satisfied()])


def execute(plan):
    for c in plan:
        c.execute()


def chain_test(n):
    """A chain v0 = v1 = ... = vn, edited at v0; vn must follow."""
    planner = Planner()
    variables = [Variable(f"v{i}") for i in range(n + 1)]
    for a, b in zip(variables, variables[1:]):
        EqualityConstraint(planner, a, b, REQUIRED)
    first, last = variables[0], variables[-1]
    StayConstraint(planner, last, STRONG_DEFAULT)
    edit = EditConstraint(planner, first, PREFERRED)
    plan = planner.plan_for_inputs([edit])
    total = 0
    for value in range(50):
        first.value = value
        execute(plan)
        if last.value != value:
            raise RuntimeError("chain test failed")
        total += last.value
    edit.destroy()
    return total + len(plan)


def change(planner, variable, value):
    edit = EditConstraint(planner, variable, PREFERRED)
    plan = planner.plan_for_inputs([edit])
    for _ in range(5):
        variable.value = value
        execute(plan)
    edit.destroy()


def projection_test(n):
    """dst[i] = src[i] * scale + offset for every i; edit either side."""
    planner = Planner()
    scale = Variable("scale", 10)
    offset = Variable("offset", 1000)
    sources, dests = [], []
    for i in range(n):
        src = Variable(f"src{i}", i)
        dst = Variable(f"dst{i}", i)
        sources.append(src)
        dests.append(dst)
        StayConstraint(planner, src, NORMAL)
        ScaleConstraint(planner, src, scale, offset, dst, REQUIRED)
    change(planner, sources[-1], 17)
    if dests[-1].value != 1170:
        raise RuntimeError("projection test 1 failed")
    change(planner, dests[-1], 1050)
    if sources[-1].value != 5:
        raise RuntimeError("projection test 2 failed")
    change(planner, scale, 5)
    for i in range(n - 1):
        if dests[i].value != i * 5 + 1000:
            raise RuntimeError("projection test 3 failed")
    change(planner, offset, 2000)
    for i in range(n - 1):
        if dests[i].value != i * 5 + 2000:
            raise RuntimeError("projection test 4 failed")
    return sum(d.value for d in dests) + planner.current_mark


def run(n):
    return f"chain={chain_test(n)} projection={projection_test(n)}"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    for _ in range(REPEAT):
        print(run(n))


if __name__ == "__main__":
    main()
