"""The Darknet -> ONNX converter against a plain numpy forward pass of Darknet's layers.

A small random network uses every layer yolov3-tiny has (BatchNorm conv, leaky,
linear conv, 2/2 and 2/1 maxpool, route of one and two layers, upsample, two yolo
heads), so a mistake in BN folding, padding or routing changes the numbers.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from server.models.darknet import DarknetError, convert_darknet

CFG = """
[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
size=1
stride=1
pad=1
filters=14
activation=linear

[yolo]
mask = 2,3
anchors = 4,5, 8,9, 12,10, 20,22
classes=2
num=4

[route]
layers = -3

[convolutional]
batch_normalize=1
filters=4
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers = -1, 2

[convolutional]
size=1
stride=1
pad=1
filters=14
activation=linear

[yolo]
mask = 0,1
anchors = 4,5, 8,9, 12,10, 20,22
classes=2
num=4
"""


def _conv_params(rng, c_in, filters, size, bn):
    """Darknet weight-file order: biases, [scales, mean, var], weights."""
    bias = rng.normal(0, 0.5, filters).astype(np.float32)
    parts = [bias]
    p = {"bias": bias}
    if bn:
        p["scales"] = rng.uniform(0.5, 1.5, filters).astype(np.float32)
        p["mean"] = rng.normal(0, 0.3, filters).astype(np.float32)
        p["var"] = rng.uniform(0.2, 2.0, filters).astype(np.float32)
        parts += [p["scales"], p["mean"], p["var"]]
    p["w"] = rng.normal(0, 0.4, (filters, c_in, size, size)).astype(np.float32)
    parts.append(p["w"].ravel())
    return p, parts


def _np_conv(x, p, size, bn, leaky):
    c, h, w = x.shape
    pad = size // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((p["w"].shape[0], h, w), dtype=np.float64)
    for i in range(size):
        for j in range(size):
            out += np.einsum("fc,chw->fhw", p["w"][:, :, i, j], xp[:, i : i + h, j : j + w])
    if bn:  # darknet normalize_cpu + scale_bias + add_bias
        out = (out - p["mean"][:, None, None]) / (np.sqrt(p["var"])[:, None, None] + 1e-6)
        out = out * p["scales"][:, None, None]
    out = out + p["bias"][:, None, None]
    return np.where(out > 0, out, 0.1 * out) if leaky else out


def _np_maxpool(x, size, stride):
    """darknet forward_maxpool_layer: pad = size - 1, offset -pad/2, out-of-image never wins."""
    c, h, w = x.shape
    pad = size - 1
    oh, ow = (h + pad - size) // stride + 1, (w + pad - size) // stride + 1
    off = -(pad // 2)
    out = np.full((c, oh, ow), -np.inf)
    for y in range(oh):
        for xx in range(ow):
            for i in range(size):
                for j in range(size):
                    yy, xj = off + y * stride + i, off + xx * stride + j
                    if 0 <= yy < h and 0 <= xj < w:
                        out[:, y, xx] = np.maximum(out[:, y, xx], x[:, yy, xj])
    return out


@pytest.fixture(scope="module")
def tiny_darknet(tmp_path_factory):
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("darknet")
    layers = [  # (c_in, filters, size, bn) in cfg order
        (3, 4, 3, 1),
        (4, 8, 3, 1),
        (8, 8, 3, 1),
        (8, 14, 1, 0),
        (8, 4, 1, 1),
        (12, 14, 1, 0),
    ]
    params, floats = [], []
    for c_in, f, s, bn in layers:
        p, parts = _conv_params(rng, c_in, f, s, bn)
        params.append(p)
        floats += parts
    header = np.array([0, 2, 0], dtype=np.int32).tobytes() + np.array([0], dtype=np.int64).tobytes()
    (d / "tiny.cfg").write_text(CFG)
    (d / "tiny.weights").write_bytes(header + np.concatenate(floats).astype(np.float32).tobytes())
    (d / "coco.names").write_text("thing\nother\n")
    out = convert_darknet(d / "tiny.cfg", d / "tiny.weights", d / "tiny.onnx")
    return out, params, d


def _reference(x, params):
    p = params
    l0 = _np_conv(x, p[0], 3, True, True)
    l1 = _np_maxpool(l0, 2, 2)
    l2 = _np_conv(l1, p[1], 3, True, True)
    l3 = _np_maxpool(l2, 2, 2)
    l4 = _np_conv(l3, p[2], 3, True, True)
    l5 = _np_maxpool(l4, 2, 1)
    head0 = _np_conv(l5, p[3], 1, False, False)
    l9 = _np_conv(l5, p[4], 1, True, True)  # route -3 -> layer 5
    l10 = l9.repeat(2, axis=1).repeat(2, axis=2)
    l11 = np.concatenate([l10, l2], axis=0)
    head1 = _np_conv(l11, p[5], 1, False, False)
    return head0, head1


@pytest.mark.parametrize("hw", [(32, 32), (32, 64)])
def test_converted_graph_matches_darknet_arithmetic(tiny_darknet, hw):
    path, params, _ = tiny_darknet
    x = np.random.default_rng(1).uniform(0, 1, (3, *hw)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got0, got1 = sess.run(None, {"images": x[None]})
    want0, want1 = _reference(x.astype(np.float64), params)
    assert got0.shape == (1, 14, hw[0] // 4, hw[1] // 4)
    assert got1.shape == (1, 14, hw[0] // 2, hw[1] // 2)
    np.testing.assert_allclose(got0[0], want0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got1[0], want1, rtol=1e-4, atol=1e-4)


def test_maxpool_size2_stride1_pads_bottom_right_only(tiny_darknet):
    path, _, _ = tiny_darknet
    model = onnx.load(str(path))
    pools = [n for n in model.graph.node if n.op_type == "MaxPool"]
    attrs = [{a.name: list(a.ints) for a in n.attribute} for n in pools]
    assert [a["strides"] for a in attrs] == [[2, 2], [2, 2], [1, 1]]
    assert attrs[2]["pads"] == [0, 0, 1, 1]


def test_metadata_carries_anchors_masks_and_names(tiny_darknet):
    path, _, _ = tiny_darknet
    meta = (
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        .get_modelmeta()
        .custom_metadata_map
    )
    assert json.loads(meta["anchors"]) == [[4, 5], [8, 9], [12, 10], [20, 22]]
    assert json.loads(meta["masks"]) == [[2, 3], [0, 1]]
    assert json.loads(meta["strides"]) == [4, 2]
    assert json.loads(meta["names"]) == ["thing", "other"]
    assert meta["family"] == "yolov3"


def test_weights_that_do_not_match_the_cfg_are_refused(tiny_darknet, tmp_path):
    _, _, d = tiny_darknet
    data = (d / "tiny.weights").read_bytes()
    (tmp_path / "long.weights").write_bytes(data + np.zeros(5, np.float32).tobytes())
    (tmp_path / "short.weights").write_bytes(data[:-40])
    with pytest.raises(DarknetError, match="left in the weights"):
        convert_darknet(d / "tiny.cfg", tmp_path / "long.weights", tmp_path / "x.onnx")
    with pytest.raises(DarknetError, match="shorter"):
        convert_darknet(d / "tiny.cfg", tmp_path / "short.weights", tmp_path / "y.onnx")
