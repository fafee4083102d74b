"""One-time ONNX graph preparation for the block-quantised (``int8bq``) OpenCV Zoo models.

onnxruntime 1.32 refuses these files as shipped: SFace lists its initialisers as graph
inputs, and both SFace and YuNet use DequantizeLinear with ``block_size`` on per-tensor
scales.  Every DequantizeLinear here has constant inputs, so folding it to an fp32
initialiser gives the same numbers and a faster graph (MODELS.md: SFace 60 -> 36 ms).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    x = x.astype(np.float32)
    zero = np.zeros_like(scale, dtype=np.float32) if zero is None else zero.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return (x - zero.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if block and scale.ndim == x.ndim:  # blocked quantisation: one scale per `block` values along axis
        scale = np.repeat(scale, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        return (x - zero) * scale
    if block and scale.ndim == 1 and x.ndim == 1:
        scale = np.repeat(scale, block)[: x.shape[0]]
        zero = np.repeat(zero, block)[: x.shape[0]]
        return (x - zero) * scale
    shape = [1] * x.ndim  # per-axis
    shape[axis] = -1
    return (x - zero.reshape(shape)) * scale.reshape(shape)


def fold_dequantize(model: onnx.ModelProto) -> int:
    """Replace every DequantizeLinear with constant inputs by an fp32 initialiser; returns the count."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    folded = 0
    for node in list(graph.node):
        if node.op_type != "DequantizeLinear" or not all(n in inits for n in node.input if n):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        arrays = [numpy_helper.to_array(inits[n]) if n else None for n in node.input]
        x, scale = arrays[0], arrays[1]
        zero = arrays[2] if len(arrays) > 2 else None
        value = _dequantize(x, scale, zero, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        graph.node.remove(node)
        folded += 1
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    return folded


def drop_initializer_inputs(model: onnx.ModelProto) -> int:
    """Remove graph inputs that are not real inputs: initialisers, node outputs, or unused names."""
    init = {i.name for i in model.graph.initializer}
    produced = {o for n in model.graph.node for o in n.output}
    consumed = {x for n in model.graph.node for x in n.input}
    bad = [i for i in model.graph.input if i.name in init or i.name in produced or i.name not in consumed]
    for item in bad:
        model.graph.input.remove(item)
    return len(bad)


def prepare_quantized(model: onnx.ModelProto) -> onnx.ModelProto:
    drop_initializer_inputs(model)
    fold_dequantize(model)
    drop_initializer_inputs(model)
    return model


def needs_preparation(model: onnx.ModelProto) -> bool:
    init = {i.name for i in model.graph.initializer}
    produced = {o for n in model.graph.node for o in n.output}
    consumed = {x for n in model.graph.node for x in n.input}
    return any(i.name in init or i.name in produced or i.name not in consumed for i in model.graph.input) or any(
        n.op_type == "DequantizeLinear" and all(x in init for x in n.input if x) for n in model.graph.node
    )
