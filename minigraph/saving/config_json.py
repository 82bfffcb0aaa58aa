"""JSON configs read from files and strings, parsed with a bound on their nesting.

Real model configs nest a few levels per nested model (a five-deep stack of nested models is 23 levels); the
code that turns a config into a model walks it recursively, so a config nested hundreds of levels deep would
end in a RecursionError halfway through building. Such a config is refused as soon as it is parsed.
"""
import json

MAX_DEPTH = 100


def loads(raw, where):
    """The value of the JSON text `raw` (str or UTF-8 bytes); a ValueError naming `where` when it is not JSON
    or nests more than MAX_DEPTH levels deep."""
    try:
        value = json.loads(raw.decode("utf8") if isinstance(raw, (bytes, bytearray)) else raw)
    # TypeError: not a string (an HDF5 array attribute, a number); RecursionError: nested thousands deep
    except (ValueError, TypeError, RecursionError) as err:
        raise ValueError(f"{where} is not valid JSON ({type(err).__name__}: {str(err)[:200]})") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"{where} nests more than {MAX_DEPTH} levels deep, far beyond any model config; "
                             f"refusing it (a damaged or hostile config)")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value
