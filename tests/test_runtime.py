"""Execution-provider selection and the GPU batching path, checked on the CPU.

``select_providers`` is pure logic over onnxruntime's list of available providers, so
the CUDA cases are tested by handing it a list.  The batching wrapper runs a tiny
generated ONNX graph with a free batch axis on the CPU provider: what is tested is
that concurrent single-frame calls become one batched run whose rows go back to the
right callers, not any speed.
"""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from server.vision.batching import (
    BatchingSession,
    batch_consistent,
    batched_session,
    batching_enabled,
    make_batch_dynamic,
)
from server.vision.runtime import make_session, select_providers

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


# --- provider selection ------------------------------------------------------------------
def test_auto_takes_cuda_when_available():
    assert select_providers("auto", [TRT, CUDA, CPU]) == [CUDA, CPU]


def test_auto_without_cuda_is_cpu_only():
    assert select_providers("auto", [CPU]) == [CPU]
    assert select_providers("", [CPU]) == [CPU]
    assert select_providers(None, [CPU]) == [CPU]


def test_auto_never_picks_tensorrt():
    assert TRT not in select_providers("auto", [TRT, CPU])


def test_explicit_short_names_and_full_names():
    assert select_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    assert select_providers("CUDAExecutionProvider", [CUDA, CPU]) == [CUDA, CPU]
    assert select_providers(" TensorRT , cuda ", [TRT, CUDA, CPU]) == [TRT, CUDA, CPU]
    assert select_providers("cpu", [CUDA, CPU]) == [CPU]


def test_explicit_cuda_without_cuda_falls_back_to_cpu():
    assert select_providers("cuda", [CPU]) == [CPU]


def test_unknown_names_are_skipped():
    assert select_providers("warp-drive,cuda", [CUDA, CPU]) == [CUDA, CPU]
    assert select_providers("warp-drive", [CPU]) == [CPU]


def test_cpu_is_always_last_and_once():
    assert select_providers("cpu,cuda", [CUDA, CPU]) == [CUDA, CPU]
    assert select_providers("cpu,cpu,cuda,cuda", [CUDA, CPU]) == [CUDA, CPU]
    for req in ("auto", "cuda", "cpu", "tensorrt,cuda", "nonsense"):
        got = select_providers(req, [TRT, CUDA, CPU])
        assert got[-1] == CPU and got.count(CPU) == 1


def test_default_uses_onnxruntimes_list():
    import onnxruntime as ort

    got = select_providers("auto")
    assert got[-1] == CPU
    assert all(p in ort.get_available_providers() for p in got)


def test_batching_only_with_cuda_first():
    assert batching_enabled(True, [CUDA, CPU])
    assert not batching_enabled(False, [CUDA, CPU])
    assert not batching_enabled(True, [CPU])
    assert not batching_enabled(
        True, [TRT, CUDA, CPU]
    )  # TensorRT engines are built per shape: not batched
    assert not batching_enabled(True, [])


# --- tiny graphs -----------------------------------------------------------------------------
def affine_model(batch: str | int = "N") -> bytes:
    """y = x * 2 + 1 on [batch, 4]; z = sum of x over its row -> [batch, 1]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 1])
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["m"]),
        helper.make_node("Add", ["m", "one"], ["y"]),
        helper.make_node("ReduceSum", ["x", "axes"], ["z"], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "affine", [x], [y, z], initializer=[two, one, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def yunet_like_model() -> onnx.ModelProto:
    """Batch pinned to 1 as in YuNet: [1, 2, 3, 3] conv-free head, transposed and reshaped to [1, -1, 2]."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 3, 3])
    out = helper.make_tensor_value_info("head", TensorProto.FLOAT, [1, 9, 2])
    shape = helper.make_node(
        "Constant", [], ["shape"], value=numpy_helper.from_array(np.array([1, -1, 2], np.int64))
    )
    nodes = [
        shape,
        helper.make_node("Transpose", ["input"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t", "shape"], ["r"]),
        helper.make_node("Sigmoid", ["r"], ["head"]),
    ]
    graph = helper.make_graph(nodes, "head", [x], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


class CountingSession:
    """An onnxruntime session that records the batch size of every run."""

    def __init__(self, session):
        self.session = session
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def get_modelmeta(self):
        return self.session.get_modelmeta()

    def run(self, names, feeds):
        with self._lock:
            self.batches.append(next(iter(feeds.values())).shape[0])
        return self.session.run(names, feeds)


def concurrent_calls(batcher: BatchingSession, inputs: list[np.ndarray], names=None) -> list:
    results: list = [None] * len(inputs)
    errors: list = []

    def call(i):
        try:
            results[i] = batcher.run(names, {"x": inputs[i]})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


# --- batching ----------------------------------------------------------------------------------
def test_concurrent_calls_become_one_batched_run():
    counting = CountingSession(make_session(affine_model(), [CPU]))
    # the batch closes as soon as 4 rows are in, so no clock decides this test
    batcher = BatchingSession(counting, max_batch=4, max_wait_ms=10_000)
    try:
        inputs = [np.full((1, 4), float(i), np.float32) for i in range(4)]
        results = concurrent_calls(batcher, inputs)
    finally:
        batcher.close()
    assert counting.batches == [4]
    assert batcher.calls == 1 and batcher.requests == 4
    for i, (y, z) in enumerate(results):
        assert y.shape == (1, 4) and z.shape == (1, 1)
        np.testing.assert_allclose(y, inputs[i] * 2 + 1)
        np.testing.assert_allclose(z, [[4.0 * i]])


def test_batches_never_exceed_max_and_rows_follow_their_caller():
    counting = CountingSession(make_session(affine_model(), [CPU]))
    batcher = BatchingSession(counting, max_batch=3, max_wait_ms=50)
    try:
        inputs = [np.random.default_rng(i).random((1, 4), dtype=np.float32) for i in range(10)]
        results = concurrent_calls(batcher, inputs, names=["z"])
    finally:
        batcher.close()
    assert sum(counting.batches) == 10 and max(counting.batches) <= 3
    for x, (z,) in zip(inputs, results, strict=False):
        np.testing.assert_allclose(z, x.sum(axis=1, keepdims=True), rtol=1e-5)


def test_multi_row_requests_are_split_back():
    counting = CountingSession(make_session(affine_model(), [CPU]))
    batcher = BatchingSession(counting, max_batch=5, max_wait_ms=10_000)
    try:
        inputs = [np.arange(8, dtype=np.float32).reshape(2, 4) + 10 * i for i in range(2)] + [
            np.ones((1, 4), np.float32)
        ]
        results = concurrent_calls(batcher, inputs)
    finally:
        batcher.close()
    assert counting.batches == [5]
    for x, (y, _z) in zip(inputs, results, strict=False):
        assert y.shape == x.shape
        np.testing.assert_allclose(y, x * 2 + 1)


def test_a_single_call_runs_after_the_wait():
    counting = CountingSession(make_session(affine_model(), [CPU]))
    batcher = BatchingSession(counting, max_batch=8, max_wait_ms=1)
    try:
        (y, z) = batcher.run(None, {"x": np.ones((1, 4), np.float32)})
    finally:
        batcher.close()
    assert counting.batches == [1]
    np.testing.assert_allclose(y, 3.0)


def test_errors_reach_every_caller_and_close_refuses_new_calls():
    batcher = BatchingSession(make_session(affine_model(), [CPU]), max_batch=2, max_wait_ms=1)
    with pytest.raises(Exception):  # noqa: B017 (onnxruntime's own error class is not importable)
        batcher.run(None, {"x": np.ones((1, 5), np.float32)})  # wrong width: onnxruntime refuses
    with pytest.raises(ValueError):
        batcher.run(None, {"x": np.float32(1.0)})  # no batch axis
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.run(None, {"x": np.ones((1, 4), np.float32)})


def test_pinned_batch_is_freed_and_checked():
    model = yunet_like_model()
    pinned = make_session(model.SerializeToString(), [CPU])
    assert not batch_consistent(pinned)  # batch 1 in the graph: a batch of two is refused
    freed = make_batch_dynamic(model)
    assert freed is not None
    session = make_session(freed.SerializeToString(), [CPU])
    assert batch_consistent(session)
    x = np.random.default_rng(0).random((3, 2, 3, 3), dtype=np.float32)
    (both,) = session.run(None, {"input": x})
    assert both.shape == (3, 9, 2)
    for r in range(3):
        (one,) = pinned.run(None, {"input": x[r : r + 1]})
        np.testing.assert_allclose(both[r : r + 1], one, rtol=1e-6)


def test_batched_session_from_file_and_bytes(tmp_path):
    path = tmp_path / "head.onnx"
    onnx.save(yunet_like_model(), str(path))
    for source in (path, path.read_bytes()):
        batcher = batched_session(source, [CPU], max_batch=4, max_wait_ms=10_000)
        assert isinstance(batcher, BatchingSession)
        try:
            assert batcher.get_inputs()[0].shape[0] == "batch"
            x = [np.random.default_rng(i).random((1, 2, 3, 3), dtype=np.float32) for i in range(4)]
            out = [None] * 4

            def call(i, batcher=batcher, x=x, out=out):
                out[i] = batcher.run(None, {"input": x[i]})[0]

            threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert batcher.calls == 1
            for i in range(4):
                expect = 1 / (1 + np.exp(-x[i].transpose(0, 2, 3, 1).reshape(1, -1, 2)))
                np.testing.assert_allclose(out[i], expect, rtol=1e-5)
        finally:
            batcher.close()


def test_real_face_models_can_batch():
    """The default YuNet and SFace files free their batch axis and pass the consistency check."""
    from server.config import Settings
    from server.models.registry import ModelRegistry

    registry = ModelRegistry(Settings().models_dir)
    for role in ("face_detector", "face_embedder"):
        spec = registry.resolve(role)
        if spec is None or spec.family not in ("yunet", "sface"):
            pytest.skip(f"no default {role} in the models folder: run `make models`")
        batcher = batched_session(registry.path(spec), [CPU], max_batch=2, max_wait_ms=1)
        assert batcher is not None, role
        batcher.close()


def test_face_adapters_hand_out_batched_copies():
    """``Batcher.batch(adapter)``: a copy of the adapter on a batched session that finds the
    same face and embedding; the adapter itself keeps its own session."""
    from server.config import Settings
    from server.models.registry import ModelRegistry
    from server.vision.batching import Batcher
    from server.vision.faces import SFaceEmbedder, YuNetDetector
    from tests.helpers import image

    registry = ModelRegistry(Settings().models_dir)
    det_spec, emb_spec = registry.resolve("face_detector"), registry.resolve("face_embedder")
    if not det_spec or not emb_spec or (det_spec.family, emb_spec.family) != ("yunet", "sface"):
        pytest.skip("no default YuNet and SFace in the models folder: run `make models`")
    det = YuNetDetector(registry.path(det_spec), [CPU])
    emb = SFaceEmbedder(registry.path(emb_spec), [CPU])
    batcher = Batcher([CPU], threads=1, max_batch=2, max_wait_ms=1)
    try:
        bdet, bemb = batcher.batch(det, "yunet"), batcher.batch(emb, "sface")
        assert len(batcher.sessions) == 2
        assert bdet.session is batcher.sessions[0] and bemb.session is batcher.sessions[1]
        assert not isinstance(det.session, BatchingSession)
        img = image("obama.jpg")
        (face,), (bface,) = det.detect(img), bdet.detect(img)
        # the batched graph keeps the file's 640x640 input: the same face, a pixel or two apart
        np.testing.assert_allclose(bface.bbox, face.bbox, atol=4)
        assert float(emb.embed(img, face) @ bemb.embed(img, face)) > 0.999
    finally:
        for session in batcher.sessions:
            session.close()
