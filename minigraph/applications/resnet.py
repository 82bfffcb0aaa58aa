"""ResNet50, ResNet101 and ResNet152 (He et al., 2015; Keras's v1 bottleneck blocks) with Keras's layer names
and weight files."""
from minigraph import layers
from minigraph.applications import imagenet_utils

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# Keras's published files: (with top, without top) file hashes.
_WEIGHTS_HASHES = {"resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
                   "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
                   "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c")}
_BN_EPSILON = 1.001e-5
_APP_NAMES = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}


def _conv_bn(x, filters, kernel_size, name, strides=1, padding="valid"):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, name=name + "_conv")(x)
    return layers.BatchNormalization(axis=3, epsilon=_BN_EPSILON, name=name + "_bn")(x)


def _bottleneck(x, filters, name, stride=1, conv_shortcut=True):
    """Keras's block1: 1x1 -> 3x3 -> 1x1 (4*filters) plus the shortcut, then ReLU."""
    shortcut = _conv_bn(x, 4 * filters, 1, name + "_0", strides=stride) if conv_shortcut else x
    x = _conv_bn(x, filters, 1, name + "_1", strides=stride)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = _conv_bn(x, filters, 3, name + "_2", padding="same")
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = _conv_bn(x, 4 * filters, 1, name + "_3")
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters, blocks, name, stride1=2):
    x = _bottleneck(x, filters, name + "_block1", stride=stride1)
    for i in range(2, blocks + 1):
        x = _bottleneck(x, filters, f"{name}_block{i}", conv_shortcut=False)
    return x


def _resnet(name, blocks_per_stack, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation):
    app = _APP_NAMES[name]
    imagenet_utils.check_arguments(app, weights, include_top, classes, classifier_activation, pooling)
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size=224, min_size=32,
                                                    require_flatten=include_top, weights=weights)
    inputs = imagenet_utils.image_input(app, input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = _conv_bn(x, 64, 7, "conv1", strides=2)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stack, (filters, blocks) in enumerate(zip((64, 128, 256, 512), blocks_per_stack), start=2):
        x = _stack(x, filters, blocks, f"conv{stack}", stride1=1 if stack == 2 else 2)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pooled(x, pooling, avg_name="avg_pool", max_name="max_pool")

    def imagenet_file():
        fname = f"{name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        return fname, _WEIGHTS_ROOT + fname, _WEIGHTS_HASHES[name][0 if include_top else 1]

    return imagenet_utils.finish(inputs, x, name, weights, imagenet_file)


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax"):
    """Keras's ResNet50: bottleneck stacks of 3, 4, 6 and 3 blocks."""
    return _resnet("resnet50", (3, 4, 6, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax"):
    """Keras's ResNet101: bottleneck stacks of 3, 4, 23 and 3 blocks."""
    return _resnet("resnet101", (3, 4, 23, 3), include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax"):
    """Keras's ResNet152: bottleneck stacks of 3, 8, 36 and 3 blocks."""
    return _resnet("resnet152", (3, 8, 36, 3), include_top, weights, input_tensor, input_shape, pooling,
                   classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """ResNet's preprocessing: Keras's "caffe" mode (BGR, mean pixel subtracted)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
