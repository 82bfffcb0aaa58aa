"""What the ImageNet applications share: Keras's preprocess_input modes, decode_predictions, and the checks
of the application arguments (weights, classes, input_shape, input_tensor) with the model's input and top."""
import json
import os

import numpy as np

from minigraph import activations, backend, layers
from minigraph.engine.training import Model
from minigraph.file_utils import get_file

CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"
_CLASS_INDEX = None

# Keras's ImageNet channel statistics (RGB order for torch, BGR for caffe).
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESS_MODES = ("caffe", "tf", "torch")


def preprocess_input(x, data_format=None, mode="caffe"):
    """Keras's ImageNet preprocessing of a batch (or one image) of RGB pixels in [0, 255]:
    "caffe" flips to BGR and subtracts the mean pixel, "tf" scales to [-1, 1], "torch" scales to [0, 1] and
    normalises each channel. The input array is not modified."""
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"preprocess_input: `mode` must be one of {PREPROCESS_MODES}; received mode={mode!r}")
    data_format = backend.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("preprocess_input: `data_format` must be 'channels_last' or 'channels_first'; "
                         f"received data_format={data_format!r}")
    x = np.asarray(x)
    x = x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else backend.floatx(), copy=True)
    channel_axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
    if x.ndim < 3 or x.shape[channel_axis] != 3:
        raise ValueError(f"preprocess_input: expects images with 3 channels ({data_format}); "
                         f"received an array of shape {x.shape}")
    if mode == "tf":
        return x / x.dtype.type(127.5) - x.dtype.type(1.0)
    x = np.moveaxis(x, channel_axis, -1)
    if mode == "torch":
        x = (x / x.dtype.type(255.0) - np.asarray(_TORCH_MEAN, x.dtype)) / np.asarray(_TORCH_STD, x.dtype)
    else:
        x = x[..., ::-1] - np.asarray(_CAFFE_MEAN_BGR, x.dtype)
    return np.ascontiguousarray(np.moveaxis(x, -1, channel_axis))


def decode_predictions(preds, top=5):
    """The `top` ImageNet classes of each row of `preds` (shape (samples, 1000)), as lists of
    (class_name, class_description, score), best first. Reads Keras's class index through get_file."""
    global _CLASS_INDEX
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("decode_predictions: expects a batch of predictions (a 2D array of shape "
                         f"(samples, 1000)); received an array of shape {preds.shape}")
    if _CLASS_INDEX is None:
        path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                        file_hash=CLASS_INDEX_HASH)
        with open(path) as f:
            _CLASS_INDEX = json.load(f)
    results = []
    for row in preds:
        best = np.argsort(row, kind="stable")[-top:][::-1]
        results.append(sorted((tuple(_CLASS_INDEX[str(i)]) + (row[i],) for i in best),
                              key=lambda entry: entry[2], reverse=True))
    return results


def check_arguments(app, weights, include_top, classes, classifier_activation, pooling):
    """Keras's checks of an application's weights/classes/pooling arguments, naming `app`."""
    if not (weights is None or weights == "imagenet" or (isinstance(weights, (str, os.PathLike))
                                                          and os.path.exists(weights))):
        raise ValueError(f"{app}: the `weights` argument should be either None (random initialization), "
                         f"'imagenet' (pre-training on ImageNet), or the path to the weights file to be loaded; "
                         f"received weights={weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{app}: if using `weights='imagenet'` with `include_top=True`, `classes` should be "
                         f"1000; received classes={classes!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{app}: `pooling` must be None, 'avg' or 'max'; received pooling={pooling!r}")
    if weights is not None and include_top:
        activation = activations.get(classifier_activation)
        if activation not in (activations.get("softmax"), activations.get(None)):
            raise ValueError(f"{app}: only `classifier_activation` None or 'softmax' can be used with "
                             f"pretrained weights; received classifier_activation={classifier_activation!r}")


def obtain_input_shape(app, input_shape, default_size, min_size, require_flatten, weights):
    """Keras's rule for an application's (rows, cols, channels) input shape, channels_last."""
    if backend.image_data_format() != "channels_last":
        raise ValueError(f"{app}: minigraph's applications are channels_last; the image data format is "
                         f"{backend.image_data_format()!r}")
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(f"{app}: when setting `include_top=True` and loading 'imagenet' weights, "
                             f"`input_shape` should be {default_shape}; received input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"{app}: `input_shape` must be a tuple of three integers; "
                             f"received input_shape={input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"{app}: the input must have 3 channels; received input_shape={input_shape}")
        if any(size is not None and size < min_size for size in input_shape[:2]):
            raise ValueError(f"{app}: input size must be at least {min_size}x{min_size}; "
                             f"received input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"{app}: if `include_top` is True, you should specify a static `input_shape`; "
                         f"received input_shape={input_shape}")
    return input_shape


def image_input(app, input_tensor, input_shape):
    """The application's input: `input_tensor` when given (a symbolic tensor), else a new Input."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not hasattr(input_tensor, "_keras_history"):
        raise ValueError(f"{app}: `input_tensor` must be a symbolic tensor (keras.Input or a layer's output); "
                         f"received {type(input_tensor).__name__}")
    return input_tensor


def pooled(x, pooling, avg_name=None, max_name=None):
    """The headless model's optional global pooling (`pooling` "avg", "max" or None)."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def finish(inputs, outputs, name, weights, imagenet_file):
    """The model, with its weights: None keeps them fresh, a path loads that file, "imagenet" fetches
    Keras's published file via get_file; imagenet_file() gives (file name, URL, file hash or None)."""
    model = Model(inputs, outputs, name=name)
    if weights == "imagenet":
        fname, origin, file_hash = imagenet_file()
        model.load_weights(get_file(fname, origin, cache_subdir="models", file_hash=file_hash))
    elif weights is not None:
        model.load_weights(weights)
    return model


def correct_pad(x, kernel_size):
    """Keras's zero padding before a strided 'valid' convolution, so that it matches TF's 'same' on even
    sizes: ((top, bottom), (left, right))."""
    rows, cols = x.shape[1:3]
    kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))
