"""examples/train_mnist.py: trains on keras.datasets.mnist when the file can be had, explains when it cannot."""
import hashlib
import importlib.util
import os
import shutil
import urllib.error
import urllib.request

from minigraph.datasets import _remote
from loopback_server import serve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_MNIST = os.path.join(ROOT, "tests", "data", "datasets", "mnist.npz")


def load_example():
    spec = importlib.util.spec_from_file_location("train_mnist", os.path.join(ROOT, "examples", "train_mnist.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trains_on_the_downloaded_file(tmp_path, monkeypatch, capsys):
    body = open(SMALL_MNIST, "rb").read()  # 6 training and 3 test images in mnist.npz's format
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(_remote.FILES, "mnist.npz", (_remote.KERAS_STORAGE, hashlib.sha256(body).hexdigest()))
    can_plot = importlib.util.find_spec("pydot") is not None and shutil.which("dot") is not None
    plot = ["--plot", str(tmp_path / "mnist_model.svg")] if can_plot else []
    with serve({"mnist.npz": body}) as (base, _):
        monkeypatch.setenv(_remote.ORIGIN_ENV, base)
        assert load_example().main(["--epochs", "1"] + plot) == 0
    out = capsys.readouterr().out
    assert "Total params: 55,050" in out and "test accuracy" in out and "on 3 images" in out
    if can_plot:
        assert (tmp_path / "mnist_model.svg").read_text().count("(Dense)") == 3


def test_says_how_to_get_the_file_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(_remote.ORIGIN_ENV, raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert load_example().main([]) == 1
    err = capsys.readouterr().err
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in err
    assert os.path.join(str(tmp_path), "datasets", "mnist.npz") in err


def test_not_part_of_the_quick_start():
    readme = open(os.path.join(ROOT, "README.md")).read()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "train_mnist" not in quick_start and "train_digits.py" in quick_start
