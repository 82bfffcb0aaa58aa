"""Hostile `.keras` files (Keras 3's zip format), issue 16: each load runs in a child process with a timeout
and an address-space limit (tests/hostile_child.py), and must end in a clear error naming the file and the
archive entry at fault - never a crash, a hang, a file written outside the archive or a blow-up in memory."""
import json
import os
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers
from hostile_child import expect_error
from test_hostile import foreign_data_adder


def load(path):
    return f"keras.models.load_model({str(path)!r})"


@pytest.fixture
def entries(tmp_path):
    """{name: bytes} of a small model's .keras file (Input(3) -> Dense(2) 'dense'), in its order."""
    inputs = keras.Input((3,), name="x")
    keras.Model(inputs, layers.Dense(2, name="dense")(inputs)).save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path, entries, compression=zipfile.ZIP_STORED, attributes=None):
    """A zip of `entries` ({name: bytes}); `attributes` sets ZipInfo fields ({name: {field: value}})."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate names some tests write
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in (entries.items() if isinstance(entries, dict) else entries):
                info = zipfile.ZipInfo(name)
                info.compress_type = compression
                for key, value in (attributes or {}).get(name, {}).items():
                    setattr(info, key, value)
                archive.writestr(info, data)
    return path


def with_config(entries, edit):
    config = json.loads(entries["config.json"])
    edit(config)
    return {**entries, "config.json": json.dumps(config).encode()}


def dense_config(config):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "dense")


def declare_size(path, name, size):
    """Overwrite the uncompressed size that the local header and the central directory declare for `name`."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    data[local + 22:local + 26] = size.to_bytes(4, "little")
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name.encode():
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0, name
    data[central + 24:central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def snapshot(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, files in os.walk(folder) for name in dirs + files)


# ------------------------------------------------------------------------------------------------ entry names
@pytest.mark.parametrize("bad_name", ["../evil.txt", "/tmp/evil.txt", "assets/../../evil.txt", "C:/evil.txt",
                                      "assets\\..\\..\\evil.txt", "config.json/../../evil.txt"])
def test_entry_names_pointing_outside_are_refused(tmp_path, entries, bad_name):
    work = tmp_path / "work"
    work.mkdir()
    path = write_zip(work / "m.keras", {**entries, bad_name: b"owned"})
    before = snapshot(tmp_path)
    expect_error(load(path), work, "ValueError", str(path), f"the archive entry {bad_name!r} points outside")
    assert snapshot(tmp_path) == before and not os.path.exists("/tmp/evil.txt")


def test_symlink_member_is_refused(tmp_path, entries):
    path = write_zip(tmp_path / "m.keras", {**entries, "assets/link": b"/etc/passwd"},
                     attributes={"assets/link": {"external_attr": 0o120777 << 16}})
    expect_error(load(path), tmp_path, "ValueError", str(path), "'assets/link' is a symbolic link")


def test_symlinked_weights_entry_is_refused(tmp_path, entries):
    """The entry the loader reads, marked a link to another file: refused, not followed or read as data."""
    path = write_zip(tmp_path / "m.keras", {**entries, "model.weights.h5": b"/etc/passwd"},
                     attributes={"model.weights.h5": {"external_attr": 0o120777 << 16}})
    expect_error(load(path), tmp_path, "ValueError", str(path), "'model.weights.h5' is a symbolic link")


@pytest.mark.parametrize("twice", ["config.json", "model.weights.h5"])
def test_duplicate_members_are_refused(tmp_path, entries, twice):
    """zipfile reads the last of two entries of one name; which one a tool sees differs, so neither is used."""
    other = with_config(entries, lambda config: dense_config(config)["config"].update(units=5))
    path = write_zip(tmp_path / "m.keras", list(entries.items()) + [(twice, other[twice])])
    expect_error(load(path), tmp_path, "ValueError", str(path), "lists an entry twice", f"['{twice}']")


@pytest.mark.parametrize("missing", ["config.json", "model.weights.h5"])
def test_missing_entry_is_named(tmp_path, entries, missing):
    path = write_zip(tmp_path / "m.keras", {k: v for k, v in entries.items() if k != missing})
    expect_error(load(path), tmp_path, "ValueError", str(path), f"it has no {missing}")


# ------------------------------------------------------------------------------------------------ sizes
def test_zip_bomb_of_many_entries_is_refused(tmp_path, entries):
    """300 MB of zeros deflated into an unused entry (~300 kB on disk): refused from the declared sizes."""
    path = write_zip(tmp_path / "bomb.keras", entries)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("assets/zeros", "w") as out:
            for _ in range(300):
                out.write(bytes(1 << 20))
    assert os.path.getsize(path) < 2 << 20
    expect_error(load(path), tmp_path, "ValueError", str(path), "entries declare 3145",
                 "bytes uncompressed in a file of", budget=256 << 20)


def test_huge_declared_size_is_refused_before_reading(tmp_path, entries):
    path = write_zip(tmp_path / "m.keras", entries)
    declare_size(path, "config.json", 0xFFFF0000)
    expect_error(load(path), tmp_path, "ValueError", str(path), "entries declare 4294", budget=256 << 20)


def test_entry_expanding_far_beyond_its_compressed_size_is_refused(tmp_path, entries):
    """config.json padded with 20 MB of spaces (valid JSON) and deflated to ~20 kB, in a file large enough that
    the whole archive passes: the entry's own ratio is refused."""
    padded = {**entries, "config.json": entries["config.json"] + b" " * (20 << 20),
              "assets/noise": np.random.default_rng(0).bytes(400_000)}
    path = write_zip(tmp_path / "m.keras", padded, compression=zipfile.ZIP_DEFLATED)
    expect_error(load(path), tmp_path, "ValueError", str(path), "the entry config.json declares 2097",
                 "uncompressed from", budget=256 << 20)


def test_header_understating_a_deflated_entry_reads_no_more_than_it_declares(tmp_path, entries):
    """config.json deflated from 512 MB (spaces after the JSON) while its headers say its true length: zipfile
    alone would inflate all 512 MB before noticing; the child has 200 MB to spare."""
    path = write_zip(tmp_path / "m.keras", {"metadata.json": entries["metadata.json"]})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("config.json", "w") as out:
            out.write(entries["config.json"])
            for _ in range(512):
                out.write(b" " * (1 << 20))
        archive.writestr("model.weights.h5", entries["model.weights.h5"])
    declare_size(path, "config.json", len(entries["config.json"]))
    expect_error(load(path), tmp_path, "ValueError", str(path), "the entry config.json is truncated or damaged",
                 "CRC", budget=200 << 20)


def test_header_overstating_an_entry_is_refused(tmp_path, entries):
    path = write_zip(tmp_path / "m.keras", entries)
    declare_size(path, "config.json", len(entries["config.json"]) * 100)
    expect_error(load(path), tmp_path, "ValueError", str(path), "config.json")


@pytest.mark.parametrize("method, number", [(zipfile.ZIP_BZIP2, 12), (zipfile.ZIP_LZMA, 14)])
def test_entries_compressed_other_than_by_deflate_are_refused(tmp_path, entries, method, number):
    """zipfile inflates bzip2 and lzma entries without a bound on each piece: a .keras entry is stored (as
    Keras writes it) or deflated."""
    path = write_zip(tmp_path / "m.keras", entries, compression=method)
    expect_error(load(path), tmp_path, "ValueError", str(path), f"the entry config.json is compressed with zip "
                                                                f"method {number}")


@pytest.mark.parametrize("layer, name", [
    ({"class_name": "Dense", "config": {"name": "huge", "units": 10**12}}, "huge"),
    ({"class_name": "Conv1D", "config": {"name": "wide", "filters": 10**9, "kernel_size": [3]}}, "wide"),
    ({"class_name": "Embedding", "config": {"name": "table", "input_dim": 10**6, "output_dim": 10**6}}, "table"),
])
def test_huge_layer_in_config_is_refused_before_allocating(tmp_path, entries, layer, name):
    def edit(config):
        dense = dense_config(config)
        dense["class_name"] = layer["class_name"]
        dense["config"].update(layer["config"])
    path = write_zip(tmp_path / "huge.keras", with_config(entries, edit))
    expect_error(load(path), tmp_path, "ValueError", str(path), f"layer '{name}' ({layer['class_name']})",
                 "set_max_weight_bytes", budget=256 << 20)


def test_truncated_central_directory(tmp_path, entries):
    data = write_zip(tmp_path / "good.keras", entries).read_bytes()
    for cut in (len(data) - 10, data.rfind(b"PK\x01\x02") + 20):
        (tmp_path / "cut.keras").write_bytes(data[:cut])
        expect_error(load(tmp_path / "cut.keras"), tmp_path, "ValueError", "cut.keras is not a valid .keras file: "
                     "its zip directory is missing, truncated or damaged")


# ------------------------------------------------------------------------------------------------ config.json
@pytest.mark.parametrize("config, found", [
    ({}, "None"), ([1, 2], "'list'"), ({"class_name": "Dense", "config": {"units": 3}}, "'Dense'"),
    ({"class_name": "__keras_tensor__", "config": {}}, "'__keras_tensor__'"), ("model", "'str'")])
def test_config_json_that_is_not_a_model(tmp_path, entries, config, found):
    path = write_zip(tmp_path / "m.keras", {**entries, "config.json": json.dumps(config).encode()})
    expect_error(load(path), tmp_path, "ValueError", str(path), f"config.json does not describe a model (found "
                                                                f"{found})")


@pytest.mark.parametrize("text", [b"{not json", b"\xff\xfe{}", b"[" * 10_000 + b"]" * 10_000])
def test_config_json_that_is_not_json(tmp_path, entries, text):
    path = write_zip(tmp_path / "m.keras", {**entries, "config.json": text})
    expect_error(load(path), tmp_path, "ValueError", f"{path}: config.json is not valid JSON")


@pytest.mark.parametrize("depth", [150, 900])
def test_config_nested_too_deep_inside_a_layer(tmp_path, entries, depth):
    """Valid JSON nested hundreds deep inside a layer's config parses, then would overflow the recursion of
    the code that builds the model: refused when parsed."""
    nested = json.loads("[" * depth + "]" * depth)
    path = write_zip(tmp_path / "m.keras",
                     with_config(entries, lambda config: dense_config(config)["config"].update(extra=nested)))
    expect_error(load(path), tmp_path, "ValueError", f"{path}: config.json nests more than 100 levels deep")


def test_deep_nesting_that_models_use_still_loads(tmp_path):
    """Five nested models (23 levels of JSON) are far inside the bound."""
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    for _ in range(5):
        inputs = keras.Input((3,))
        model = keras.Model(inputs, model(inputs))
    model.save(tmp_path / "n.keras")
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "n.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


# ------------------------------------------------------------------------------------------------ paths
def test_fifo_named_keras_is_refused_before_reading(tmp_path):
    path = tmp_path / "m.keras"
    os.mkfifo(path)
    expect_error(load(path), tmp_path, "OSError", str(path), "a FIFO", timeout=60)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_keras_named_device_is_refused(tmp_path, device):
    link = tmp_path / "zero.keras"
    os.symlink(device, link)
    expect_error(load(link), tmp_path, "OSError", str(link), "a character device")


# ------------------------------------------------------------------------------------------------ model.weights.h5
def with_weights(tmp_path, entries, edit):
    """entries with model.weights.h5 changed by edit(h5py file)."""
    inner = tmp_path / "inner.h5"
    inner.write_bytes(entries["model.weights.h5"])
    with h5py.File(inner, "a") as f:
        edit(f)
    return {**entries, "model.weights.h5": inner.read_bytes()}


@pytest.mark.parametrize("kind, word", [("external_link", "external link"), ("external_storage", "external file"),
                                        ("virtual", "virtual dataset")])
def test_weights_reading_other_files_are_refused(tmp_path, entries, kind, word):
    path = write_zip(tmp_path / "bad.keras", with_weights(tmp_path, entries, foreign_data_adder(kind, tmp_path)))
    expect_error(load(path), tmp_path, "ValueError", f"{path}, entry model.weights.h5", "stolen", word)


def test_external_link_to_a_fifo_does_not_hang(tmp_path, entries):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    path = write_zip(tmp_path / "bad.keras", with_weights(
        tmp_path, entries, lambda f: f["layers/dense/vars"].__setitem__("2", h5py.ExternalLink(str(fifo), "/d"))))
    expect_error(load(path), tmp_path, "ValueError", f"{path}, entry model.weights.h5", "external link", timeout=60)


def test_weight_dataset_larger_than_the_entry_is_refused_before_reading(tmp_path, entries):
    def edit(f):
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(2**20, 2**20), dtype="float32", chunks=(1024, 1024))
    path = write_zip(tmp_path / "bad.keras", with_weights(tmp_path, entries, edit))
    expect_error(load(path), tmp_path, "ValueError", f"{path}, entry model.weights.h5", "(1048576, 1048576)",
                 "more than its file", budget=256 << 20)


def test_weights_of_another_shape_name_the_entry(tmp_path, entries):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((4, 2), "float32")
    path = write_zip(tmp_path / "bad.keras", with_weights(tmp_path, entries, edit))
    expect_error(load(path), tmp_path, "ValueError", f"{path}, entry model.weights.h5",
                 "layers/dense/vars/0 has shape (4, 2)", "(3, 2)")


def test_weights_group_that_is_a_dataset_names_the_entry(tmp_path, entries):
    def edit(f):
        del f["layers/dense/vars"]
        f["layers/dense/vars"] = np.zeros(3, "float32")
    path = write_zip(tmp_path / "bad.keras", with_weights(tmp_path, entries, edit))
    expect_error(load(path), tmp_path, "ValueError", f"{path}, entry model.weights.h5",
                 "/layers/dense/vars is a Dataset, not a group of variables")


@pytest.mark.parametrize("data", [b"", b"not an hdf5 file at all", None])
def test_weights_entry_that_is_not_hdf5(tmp_path, entries, data):
    if data is None:  # a real HDF5 file cut in half
        data = entries["model.weights.h5"][:len(entries["model.weights.h5"]) // 2]
    path = write_zip(tmp_path / "bad.keras", {**entries, "model.weights.h5": data})
    expect_error(load(path), tmp_path, "OSError", f"Cannot read model.weights.h5 in {path}")


def test_a_good_file_still_loads_with_the_right_answer(tmp_path, entries):
    """The checks pass what Keras writes, deflated too (as a user's zip tool might rewrite it)."""
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        saved = {name: archive.read(name) for name in archive.namelist()}
    path = write_zip(tmp_path / "deflated.keras", saved, compression=zipfile.ZIP_DEFLATED)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    for name in ("m.keras", "deflated.keras"):
        np.testing.assert_array_equal(keras.models.load_model(tmp_path / name).predict(x, verbose=0),
                                      model.predict(x, verbose=0))
