"""Writes <name>.json: tf_keras's layer names, classes and weight shapes, in order, for each application
(include_top=True, weights=None). Run once with the oracle: /work/oracle/bin/python make_structures.py"""
import json
import os
import sys

import tf_keras as keras

APPS = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19,
        "resnet50": keras.applications.ResNet50, "mobilenet_v2": keras.applications.MobileNetV2,
        "xception": keras.applications.Xception}
here = os.path.dirname(os.path.abspath(__file__))
for name in sys.argv[1:] or APPS:
    model = APPS[name](weights=None)
    layers = [{"name": layer.name, "class": type(layer).__name__,
               "weights": [list(w.shape) for w in layer.weights]} for layer in model.layers]
    with open(os.path.join(here, name + ".json"), "w") as f:
        json.dump({"model_name": model.name, "count_params": model.count_params(), "layers": layers}, f,
                  indent=0)
    print(name, model.count_params())
