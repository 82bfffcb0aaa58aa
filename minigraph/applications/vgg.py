"""VGG16 and VGG19 (Simonyan & Zisserman, 2015) with Keras's layer names and weight files."""
from minigraph import layers
from minigraph.applications import imagenet_utils

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/"
# Keras's published files: (with top, without top) file hashes.
_WEIGHTS_HASHES = {"vgg16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
                   "vgg19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")}


def _vgg(name, convs_per_block, include_top, weights, input_tensor, input_shape, pooling, classes,
         classifier_activation):
    app = name.upper()
    imagenet_utils.check_arguments(app, weights, include_top, classes, classifier_activation, pooling)
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size=224, min_size=32,
                                                    require_flatten=include_top, weights=weights)
    inputs = imagenet_utils.image_input(app, input_tensor, input_shape)
    x = inputs
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), start=1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pooled(x, pooling)

    def imagenet_file():
        fname = f"{name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        return fname, f"{_WEIGHTS_ROOT}{name}/{fname}", _WEIGHTS_HASHES[name][0 if include_top else 1]

    return imagenet_utils.finish(inputs, x, name, weights, imagenet_file)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """Keras's VGG16: 13 3x3 convolutions in five blocks, then (include_top) two 4096-wide Dense layers."""
    return _vgg("vgg16", (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """Keras's VGG19: 16 3x3 convolutions in five blocks, then (include_top) two 4096-wide Dense layers."""
    return _vgg("vgg19", (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


def preprocess_input(x, data_format=None):
    """VGG's preprocessing: Keras's "caffe" mode (BGR, mean pixel subtracted)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
