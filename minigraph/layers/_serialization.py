"""Config values of the optional objects layers take (regularizers, constraints), as Keras writes them."""


def serialize_optional(obj):
    """None stays None; a name or a config dict stays as given; an object becomes {class_name, config}."""
    if obj is None or isinstance(obj, (str, dict)):
        return obj
    return {"class_name": type(obj).__name__, "config": obj.get_config()}
