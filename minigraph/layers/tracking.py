"""The structure counter behind the caches of a model's layers, and the containers that move it.

A layer finds the layers it holds by walking its tracked attributes (`Layer._sublayers`), and caches the
walk until `structure_version()` moves. Assigning or deleting a tracked attribute moves it; so does changing
a list or dict held in one, because `Layer.__setattr__` stores such containers as the `TrackedList` and
`TrackedDict` below (Keras 3 does the same with its own tracked containers): a sublayer appended to a list in
`build` is seen at once.
"""

_structure_changes = [0]  # tracked attributes assigned, deleted or changed in place, ever


def structure_version():
    """A number that moves whenever the layers or variables held by any layer's attributes may have changed:
    what caches of a model's structure (the sublayer walk, the inference plan) compare to stay valid."""
    return _structure_changes[0]


def structure_changed():
    """Move structure_version(): the layers some layer holds (or what its `_sublayers` returns) changed."""
    _structure_changes[0] += 1


def _mutator(base_method):
    def method(self, *args, **kwargs):
        structure_changed()
        return base_method(self, *args, **kwargs)
    method.__name__ = base_method.__name__
    method.__doc__ = base_method.__doc__
    return method


class TrackedList(list):
    """A list whose every in-place change moves `structure_version()`."""

    def __reduce_ex__(self, protocol):  # copies and pickles come back as TrackedLists with the same items
        return TrackedList, (list(self),)


for _name in ("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):
    setattr(TrackedList, _name, _mutator(getattr(list, _name)))


class TrackedDict(dict):
    """A dict whose every in-place change moves `structure_version()`."""

    def __reduce_ex__(self, protocol):
        return TrackedDict, (dict(self),)


for _name in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault", "__ior__"):
    setattr(TrackedDict, _name, _mutator(getattr(dict, _name)))
del _name


def tracked(value):
    """value with its plain lists and dicts (also inside lists, tuples and dicts) as tracked containers."""
    kind = type(value)
    if kind is list:
        return TrackedList(tracked(item) for item in value)
    if kind is dict:
        return TrackedDict((key, tracked(item)) for key, item in value.items())
    if kind is tuple:
        return tuple(tracked(item) for item in value)
    return value
