"""MobileNetV2 (Sandler et al., 2018) with Keras's layer names, width multiplier `alpha` and weight files."""
import logging

from minigraph import layers
from minigraph.applications import imagenet_utils

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_IMAGENET_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
_IMAGENET_SIZES = (96, 128, 160, 192, 224)
# (filters, stride, expansion) of Keras's 17 inverted residual blocks, block_id 0..16.
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
           (320, 1, 6))
_log = logging.getLogger(__name__)


def _make_divisible(v, divisor, min_value=None):
    """Round `v` to a multiple of `divisor`, never down by more than 10% (Keras's rule)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn_relu6(x, name, relu_name=None):
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)(x)
    return x if relu_name is None else layers.ReLU(6.0, name=relu_name)(x)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
                          name=prefix + "expand")(x)
        x = _bn_relu6(x, prefix + "expand_BN", prefix + "expand_relu")
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=prefix + "pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=prefix + "depthwise")(x)
    x = _bn_relu6(x, prefix + "depthwise_BN", prefix + "depthwise_relu")
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      name=prefix + "project")(x)
    x = _bn_relu6(x, prefix + "project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


def _default_size(input_shape, input_tensor):
    """Keras's choice: the given square size when it is one of the published ones, else 224."""
    shape = tuple(input_tensor.shape[1:]) if input_shape is None and input_tensor is not None else input_shape
    if shape is None or len(shape) != 3:
        return 224
    rows, cols = shape[0], shape[1]
    return rows if rows == cols and rows in _IMAGENET_SIZES else 224


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax"):
    """Keras's MobileNetV2: inverted residual blocks with linear bottlenecks; `alpha` scales the widths."""
    app = "MobileNetV2"
    imagenet_utils.check_arguments(app, weights, include_top, classes, classifier_activation, pooling)
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape,
                                                    default_size=_default_size(input_shape, input_tensor),
                                                    min_size=32, require_flatten=include_top, weights=weights)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in _IMAGENET_ALPHAS:
            raise ValueError(f"{app}: if imagenet weights are being loaded, `alpha` must be one of "
                             f"{_IMAGENET_ALPHAS}; received alpha={alpha!r}")
        if rows != cols or rows not in _IMAGENET_SIZES:
            rows = 224
            _log.warning("%s: `input_shape` is undefined or non-square, or `rows` is not in %s; the weights "
                         "for input shape (224, 224) are loaded", app, _IMAGENET_SIZES)
    inputs = imagenet_utils.image_input(app, input_tensor, input_shape)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same",
                      use_bias=False, name="Conv1")(inputs)
    x = _bn_relu6(x, "bn_Conv1", "Conv1_relu")
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion=expansion, stride=stride, alpha=alpha, filters=filters,
                                block_id=block_id)
    # The last convolution widens with alpha > 1 only, as in the paper.
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _bn_relu6(x, "Conv_1_bn", "out_relu")
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pooled(x, pooling)

    def imagenet_file():
        fname = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                 f"{'' if include_top else '_no_top'}.h5")
        return fname, _WEIGHTS_ROOT + fname, None

    return imagenet_utils.finish(inputs, x, f"mobilenetv2_{alpha:0.2f}_{rows}", weights, imagenet_file)


def preprocess_input(x, data_format=None):
    """MobileNetV2's preprocessing: Keras's "tf" mode (pixels scaled to [-1, 1])."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
