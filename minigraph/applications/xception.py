"""Xception (Chollet, 2017) with Keras's layer names and weight files."""
from minigraph import layers
from minigraph.applications import imagenet_utils

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
# Keras's published files: (with top, without top) file hashes.
_WEIGHTS_HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def _sep_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=name + "_bn")(x)


def _downsampling_block(x, block, filters, first_relu=True):
    """Two separable convolutions and a strided max pool, added to a strided 1x1 convolution of the input.
    Keras's block 2 has no ReLU before its first convolution, but still names its second ReLU sepconv2_act."""
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=-1)(residual)
    if first_relu:
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sep_bn(x, filters[0], f"block{block}_sepconv1")
    x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sep_bn(x, filters[1], f"block{block}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.Add()([x, residual])


def _middle_block(x, block):
    residual = x
    for conv in (1, 2, 3):
        x = layers.Activation("relu", name=f"block{block}_sepconv{conv}_act")(x)
        x = _sep_bn(x, 728, f"block{block}_sepconv{conv}")
    return layers.Add()([x, residual])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax"):
    """Keras's Xception: entry flow, eight middle blocks of separable convolutions, exit flow."""
    app = "Xception"
    imagenet_utils.check_arguments(app, weights, include_top, classes, classifier_activation, pooling)
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size=299, min_size=71,
                                                    require_flatten=include_top, weights=weights)
    inputs = imagenet_utils.image_input(app, input_tensor, input_shape)
    x = inputs
    for conv, (filters, strides) in enumerate(((32, (2, 2)), (64, (1, 1))), start=1):
        x = layers.Conv2D(filters, (3, 3), strides=strides, use_bias=False, name=f"block1_conv{conv}")(x)
        x = layers.BatchNormalization(axis=-1, name=f"block1_conv{conv}_bn")(x)
        x = layers.Activation("relu", name=f"block1_conv{conv}_act")(x)
    x = _downsampling_block(x, 2, (128, 128), first_relu=False)
    x = _downsampling_block(x, 3, (256, 256))
    x = _downsampling_block(x, 4, (728, 728))
    for block in range(5, 13):
        x = _middle_block(x, block)
    x = _downsampling_block(x, 13, (728, 1024))
    x = _sep_bn(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pooled(x, pooling)

    def imagenet_file():
        fname = f"xception_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        return fname, _WEIGHTS_ROOT + fname, _WEIGHTS_HASHES[0 if include_top else 1]

    return imagenet_utils.finish(inputs, x, "xception", weights, imagenet_file)


def preprocess_input(x, data_format=None):
    """Xception's preprocessing: Keras's "tf" mode (pixels scaled to [-1, 1])."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
