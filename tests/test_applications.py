"""keras.applications: Keras's layer names, classes, weight shapes and parameter counts (against JSON that
tf_keras wrote, tests/data/applications/make_structures.py), the argument checks, the imagenet weight files'
URLs and hashes, preprocess_input/decode_predictions, and (oracle) predictions with tf_keras's weights."""
import json
import os
import subprocess

import numpy as np
import pytest

import minigraph as keras
from minigraph import applications
from minigraph.applications import imagenet_utils
import keras_oracle

DATA = os.path.join(os.path.dirname(__file__), "data", "applications")

# name -> (constructor, Keras's parameter count, constructor name in tf_keras, small oracle input size)
APPS = {
    "vgg16": (applications.VGG16, 138_357_544, "VGG16", 32),
    "vgg19": (applications.VGG19, 143_667_240, "VGG19", 32),
    "resnet50": (applications.ResNet50, 25_636_712, "ResNet50", 32),
    "mobilenet_v2": (applications.MobileNetV2, 3_538_984, "MobileNetV2", 32),
    "xception": (applications.Xception, 22_910_480, "Xception", 71),
}
# The deeper ResNets share ResNet50's code: their imagenet files, and tf_keras's headless parameter counts.
DEEPER = {"resnet101": (applications.ResNet101, 42_658_176, 32), "resnet152": (applications.ResNet152, 58_370_944, 32)}


def structure(model):
    return [{"name": layer.name, "class": type(layer).__name__,
             "weights": [list(w.shape) for w in layer.weights]} for layer in model.layers]


@pytest.fixture(scope="module")
def built():
    cache = {}

    def build(name):
        if name not in cache:
            keras.backend.clear_session()  # Keras's automatic names (MobileNetV2's pooling) start afresh
            cache[name] = APPS[name][0](weights=None)
        return cache[name]
    yield build
    cache.clear()


@pytest.mark.parametrize("name", sorted(APPS))
def test_structure_matches_tf_keras(built, name):
    with open(os.path.join(DATA, name + ".json")) as f:
        expected = json.load(f)
    model = built(name)
    got = structure(model)
    assert expected["count_params"] == APPS[name][1]
    assert model.count_params() == APPS[name][1]
    assert model.name == expected["model_name"]
    assert len(got) == len(expected["layers"])
    # The input layer's automatic name differs between Keras versions; its class must match.
    assert got[0]["class"] == expected["layers"][0]["class"] == "InputLayer"
    assert got[1:] == expected["layers"][1:]


@pytest.mark.parametrize("name", sorted(APPS) + sorted(DEEPER))
def test_imagenet_weights_use_keras_url_and_hash(monkeypatch, name):
    calls = []

    class Fetched(Exception):
        pass

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kwargs):
        calls.append((fname, origin, cache_subdir, file_hash))
        raise Fetched

    monkeypatch.setattr(imagenet_utils, "get_file", fake_get_file)
    with open(os.path.join(DATA, "imagenet_files.json")) as f:
        expected = json.load(f)[name]
    build, size = (APPS[name][0], APPS[name][3]) if name in APPS else (DEEPER[name][0], DEEPER[name][2])
    for include_top in (True, False):
        with pytest.raises(Fetched):
            build(include_top=include_top, weights="imagenet", input_shape=None if include_top else (size, size, 3))
    assert [list(c) for c in calls] == expected


@pytest.mark.parametrize("name", sorted(DEEPER))
def test_deeper_resnets_parameter_counts_and_names(name):
    build, count, size = DEEPER[name]
    model = build(include_top=False, weights=None, input_shape=(size, size, 3))
    assert model.name == name
    assert model.count_params() == count
    blocks = {"resnet101": 23, "resnet152": 36}[name]
    names = [layer.name for layer in model.layers]
    assert f"conv4_block{blocks}_out" in names and f"conv4_block{blocks + 1}_out" not in names
    assert names[-1] == "conv5_block3_out"


@pytest.mark.parametrize("name", sorted(APPS))
def test_bad_arguments_name_the_application_and_argument(name, tmp_path):
    build, min_size = APPS[name][0], APPS[name][3]
    app = build.__name__
    with pytest.raises(ValueError, match=rf"{app}.*at least {min_size}x{min_size}.*input_shape"):
        build(include_top=False, weights=None, input_shape=(min_size - 1, min_size, 3))
    with pytest.raises(ValueError, match=rf"{app}.*`classes` should be 1000.*classes=10"):
        build(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=rf"{app}.*`weights`.*weights='imagenett'"):
        build(weights="imagenett")
    with pytest.raises(ValueError, match=rf"{app}.*`weights`"):
        build(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match=rf"{app}.*`pooling`.*pooling='mean'"):
        build(include_top=False, weights=None, input_shape=(min_size, min_size, 3), pooling="mean")
    with pytest.raises(ValueError, match=rf"{app}.*static `input_shape`"):
        build(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=rf"{app}.*`input_shape` should be \(\d+, \d+, 3\)"):
        build(weights="imagenet", input_shape=(min_size, min_size, 3))


def test_mobilenet_v2_alpha_and_its_imagenet_checks(monkeypatch):
    narrow = applications.MobileNetV2(alpha=0.35, include_top=False, weights=None, input_shape=(32, 32, 3))
    assert narrow.name == "mobilenetv2_0.35_32"  # tf_keras's names and shapes for these two
    assert narrow.get_layer("Conv1").weights[0].shape == (3, 3, 3, 16)
    assert narrow.get_layer("block_16_project").weights[0].shape == (1, 1, 336, 112)
    assert narrow.get_layer("Conv_1").weights[0].shape == (1, 1, 112, 1280)
    wide = applications.MobileNetV2(alpha=1.4, include_top=False, weights=None, input_shape=(96, 96, 3))
    assert wide.name == "mobilenetv2_1.40_96"
    assert wide.get_layer("Conv_1").weights[0].shape == (1, 1, 448, 1792)
    with pytest.raises(ValueError, match=r"MobileNetV2.*`alpha` must be one of.*alpha=0.6"):
        applications.MobileNetV2(alpha=0.6, include_top=False, weights="imagenet", input_shape=(96, 96, 3))
    calls = []

    class Fetched(Exception):
        pass

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kwargs):
        calls.append(fname)
        raise Fetched

    monkeypatch.setattr(imagenet_utils, "get_file", fake_get_file)
    with pytest.raises(Fetched):
        applications.MobileNetV2(alpha=0.5, include_top=False, weights="imagenet", input_shape=(128, 128, 3))
    with pytest.raises(Fetched):  # a size without published weights loads the 224 ones, as Keras
        applications.MobileNetV2(include_top=False, weights="imagenet", input_shape=(100, 100, 3))
    assert calls == ["mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5",
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"]


def test_headless_shapes_pooling_and_input_tensor():
    model = applications.VGG16(include_top=False, weights=None)
    assert model.output.shape == (None, None, None, 512)
    pooled = applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="max")
    assert pooled.output.shape == (None, 512)
    assert type(pooled.layers[-1]).__name__ == "GlobalMaxPooling2D"
    inputs = keras.Input((48, 48, 3))
    on_tensor = applications.VGG19(include_top=False, weights=None, input_tensor=inputs, pooling="avg")
    assert on_tensor.inputs[0] is inputs
    assert on_tensor.output.shape == (None, 512)
    custom = applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=7, classifier_activation=None)
    out = custom.predict(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"), verbose=0)
    assert out.shape == (2, 7)
    assert not np.allclose(out.sum(axis=1), 1.0)  # no softmax on the logits


def test_weights_from_a_file_round_trip(tmp_path):
    source = applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    path = str(tmp_path / "vgg16_notop.h5")
    source.save_weights(path)
    loaded = applications.VGG16(include_top=False, weights=path, input_shape=(32, 32, 3), pooling="avg")
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_feature_extraction_over_every_layer():
    # The functional API guide's VGG19 feature extractor, at a small input size.
    vgg19 = applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))
    extractor = keras.Model(inputs=vgg19.input, outputs=[layer.output for layer in vgg19.layers])
    img = np.random.default_rng(1).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    features = extractor(img)
    assert len(features) == len(vgg19.layers)
    np.testing.assert_allclose(np.asarray(features[0]), img)
    np.testing.assert_allclose(np.asarray(features[-1]), vgg19.predict(img, verbose=0), rtol=1e-5, atol=1e-6)
    assert [tuple(np.asarray(f).shape) for f in features][-1] == (1, 1, 1, 512)


# Values Keras's imagenet_utils.preprocess_input gives for these pixels (its published constants).
def test_preprocess_input_modes():
    rgb = np.array([[[[10.0, 20.0, 30.0], [255.0, 0.0, 127.5]]]], dtype="float32")
    original = rgb.copy()
    caffe = imagenet_utils.preprocess_input(rgb, mode="caffe")
    np.testing.assert_allclose(caffe[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(applications.vgg16.preprocess_input(rgb), caffe)
    tf_mode = imagenet_utils.preprocess_input(rgb, mode="tf")
    np.testing.assert_allclose(tf_mode[0, 0, 1], [1.0, -1.0, 0.0], atol=1e-7)
    torch_mode = imagenet_utils.preprocess_input(rgb, mode="torch")
    np.testing.assert_allclose(torch_mode[0, 0, 1], [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224,
                                                     (0.5 - 0.406) / 0.225], rtol=1e-5)
    first = imagenet_utils.preprocess_input(np.moveaxis(rgb, -1, 1), data_format="channels_first", mode="caffe")
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), caffe)
    np.testing.assert_array_equal(rgb, original)  # the input is left alone
    assert imagenet_utils.preprocess_input(np.full((2, 2, 3), 255, "uint8"), mode="tf").dtype == np.float32
    with pytest.raises(ValueError, match="preprocess_input.*mode.*'bgr'"):
        imagenet_utils.preprocess_input(rgb, mode="bgr")
    with pytest.raises(ValueError, match="preprocess_input.*3 channels.*shape"):
        imagenet_utils.preprocess_input(np.zeros((1, 4, 4, 2)))


def test_decode_predictions_reads_the_class_index_through_get_file(monkeypatch, tmp_path):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    calls = []

    def fake_get_file(fname, origin, cache_subdir=None, file_hash=None, **kwargs):
        calls.append((fname, origin, cache_subdir, file_hash))
        return str(path)

    monkeypatch.setattr(imagenet_utils, "get_file", fake_get_file)
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    preds = np.zeros((2, 1000), "float32")
    preds[0, [5, 17, 999]] = [0.2, 0.7, 0.1]
    preds[1, 3] = 1.0
    decoded = imagenet_utils.decode_predictions(preds, top=3)
    assert decoded[0] == [("n00000017", "class_17", np.float32(0.7)), ("n00000005", "class_5", np.float32(0.2)),
                          ("n00000999", "class_999", np.float32(0.1))]
    assert decoded[1][0] == ("n00000003", "class_3", np.float32(1.0))
    assert calls == [("imagenet_class_index.json",
                      "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                      "models", "c2c37ea517e94d9795004a39431a14cb")]
    with pytest.raises(ValueError, match=r"decode_predictions.*\(samples, 1000\).*\(2, 10\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))


def test_imagenet_weights_offline_is_get_files_error(monkeypatch):
    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- offline")

    monkeypatch.setattr(imagenet_utils, "get_file", offline)
    with pytest.raises(Exception, match="URL fetch failure on https://storage.googleapis.com/tensorflow/"
                                        "keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        applications.VGG16(include_top=False, weights="imagenet", input_shape=(32, 32, 3))


# The oracle: tf_keras builds the application (fixed seed, batch-norm statistics randomised so that their
# loading counts), saves its weights as .h5 and predicts; minigraph loads the file and must predict the same.
_ORACLE_BUILD = """
import sys
import numpy as np
import tf_keras as keras
ctor, size, h5_path, x_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
keras.utils.set_random_seed(0)
model = getattr(keras.applications, ctor)(include_top=False, weights=None, input_shape=(size, size, 3),
                                          pooling="avg")
rng = np.random.default_rng(0)
for w in model.weights:
    if "moving_variance" in w.name:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    elif any(k in w.name for k in ("moving_mean", "beta", "bias")):
        w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
    elif "gamma" in w.name:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
model.save_weights(h5_path)
np.save(out_path, model.predict(np.load(x_path), verbose=0))
"""


@pytest.mark.parametrize("name", sorted(APPS))
def test_predictions_match_tf_keras_with_its_weights(name, tmp_path):
    reason = keras_oracle.skip_reason()
    if reason:
        pytest.skip(reason)
    build, _, ctor, size = APPS[name]
    h5_path, x_path, out_path = (str(tmp_path / n) for n in ("w.h5", "x.npy", "y.npy"))
    x = np.random.default_rng(2).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    np.save(x_path, x)
    run = subprocess.run([keras_oracle.ORACLE, "-c", _ORACLE_BUILD, ctor, str(size), h5_path, x_path, out_path],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    model = build(include_top=False, weights=h5_path, input_shape=(size, size, 3), pooling="avg")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(out_path), rtol=1e-4, atol=1e-4)


def test_family_modules_preprocess_with_keras_modes():
    rgb = np.random.default_rng(3).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    caffe = imagenet_utils.preprocess_input(rgb, mode="caffe")
    tf_mode = imagenet_utils.preprocess_input(rgb, mode="tf")
    for module, expected in ((applications.vgg16, caffe), (applications.vgg19, caffe),
                             (applications.resnet50, caffe), (applications.resnet, caffe),
                             (applications.mobilenet_v2, tf_mode), (applications.xception, tf_mode)):
        np.testing.assert_array_equal(module.preprocess_input(rgb), expected)
        assert module.decode_predictions is imagenet_utils.decode_predictions
    np.testing.assert_allclose(tf_mode, rgb / 127.5 - 1, rtol=1e-6, atol=1e-6)


def test_unknown_arguments_and_activations_are_refused():
    with pytest.raises(TypeError, match="input_size"):
        applications.VGG16(weights=None, input_size=(32, 32, 3))
    with pytest.raises(ValueError, match=r"ResNet50.*`classifier_activation`.*'relu'"):
        applications.ResNet50(weights="imagenet", classifier_activation="relu")
    with pytest.raises(ValueError, match=r"Xception.*input_tensor.*ndarray"):
        applications.Xception(include_top=False, weights=None, input_tensor=np.zeros((1, 75, 75, 3)))


def test_frozen_xception_base_as_in_the_sequential_guide():
    base = applications.Xception(include_top=False, weights=None, input_shape=(71, 71, 3), pooling="avg")
    base.trainable = False
    assert base.trainable_weights == []
    assert len(base.non_trainable_weights) == len(base.weights) > 0
    model = keras.Sequential([base, keras.layers.Dense(3)])
    x = np.random.default_rng(4).uniform(-1, 1, (2, 71, 71, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 3)
    assert [tuple(w.shape) for w in model.trainable_weights] == [(2048, 3), (3,)]
    # A frozen base runs its batch normalization in inference mode, even in a training call (Keras's rule).
    np.testing.assert_allclose(np.asarray(base(x, training=True)), base.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
