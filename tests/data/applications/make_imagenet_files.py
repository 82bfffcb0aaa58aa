"""Writes imagenet_files.json: for each application, the (fname, origin, cache_subdir, file_hash) that
tf_keras passes to get_file for weights="imagenet", with and without the top (get_file patched out, so nothing
is downloaded). Run once with the oracle: /work/oracle/bin/python make_imagenet_files.py"""
import json
import os
from unittest import mock

import tf_keras as keras
import tf_keras.src.utils.data_utils as data_utils


class Fetched(Exception):
    pass


calls = []


def record(fname, origin, cache_subdir="datasets", file_hash=None, **kwargs):
    calls.append([fname, origin, cache_subdir, file_hash])
    raise Fetched


APPS = {"vgg16": ("VGG16", 32), "vgg19": ("VGG19", 32), "resnet50": ("ResNet50", 32),
        "resnet101": ("ResNet101", 32), "resnet152": ("ResNet152", 32),
        "mobilenet_v2": ("MobileNetV2", 32), "xception": ("Xception", 71)}
out = {}
with mock.patch.object(data_utils, "get_file", record):
    for name, (ctor, size) in APPS.items():
        calls.clear()
        for top in (True, False):
            try:
                getattr(keras.applications, ctor)(include_top=top, weights="imagenet",
                                                  input_shape=None if top else (size, size, 3))
            except Fetched:
                pass
        out[name] = list(calls)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_files.json"), "w") as f:
    json.dump(out, f, indent=1)
