"""The ONNX export tests' one check: export a model, pass onnx.checker, and compare ONNX Runtime with
`model.predict` on batch sizes other than any traced one (rtol 1e-4, atol 1e-5)."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX export tests need the onnx package (pip install '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the ONNX export tests need onnxruntime (pip install '.[onnx]')")

BATCHES = (1, 7)


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_and_compare(model, make_inputs, tmp_path, batches=BATCHES, rtol=1e-4, atol=1e-5, **export_kwargs):
    """Export `model`, check the file, and compare ONNX Runtime with predict on each batch size; returns the
    loaded ModelProto."""
    path = tmp_path / f"{model.name}.onnx"
    model.export(path, **export_kwargs)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    runtime = session(path)
    assert [i.name for i in runtime.get_inputs()] == model.input_names
    for batch in batches:
        xs = make_inputs(batch)
        xs = xs if isinstance(xs, list) else [xs]
        got = runtime.run(None, dict(zip(model.input_names, xs)))
        want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        want = want if isinstance(want, list) else [want]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return proto


def floats(*shape, seed=0, scale=1.0):
    return lambda batch: (scale * np.random.default_rng(seed + batch).standard_normal((batch,) + shape)).astype(
        np.float32)


def randomize(model, seed=1):
    """Non-zero biases everywhere (and every weight moved off its initial value), so that a bias or a gate
    in the wrong place shows."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
                       for w in model.get_weights()])
