"""Tensors of a legacy (pre-1.6, non-zip) PyTorch checkpoint, read into numpy without torch.

Resemblyzer's ``pretrained.pt`` is in that format: three small pickles (magic number,
protocol, system info), the pickled object whose tensors refer to storages by key, a
pickled list of storage keys, then each storage's raw bytes (an int64 element count and
the little-endian data) in that order.  Only the classes a state dict needs are allowed,
so a crafted file cannot run code while it is read.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands."""


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype, self.numel = dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A view on a storage; becomes an array once the storages' bytes are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointError("tensor refers to a storage that was never read")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=tuple(self.size),
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.array(view)  # own copy: the storage may be shared by several tensors


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh, storages: dict[str, _Storage]):
        super().__init__(fh)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"checkpoint needs {module}.{name}, which is not a plain tensor")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unknown persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def _to_arrays(obj):
    if isinstance(obj, _TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return OrderedDict((k, _to_arrays(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_to_arrays(v) for v in obj)
    return obj


def load_legacy_checkpoint(path: Path) -> Any:
    """The checkpoint's object with every tensor replaced by a numpy array."""
    with open(path, "rb") as fh:
        try:
            magic = pickle.load(fh)
        except Exception as exc:
            raise CheckpointError(f"{Path(path).name} is not a legacy PyTorch checkpoint") from exc
        if magic != MAGIC:
            raise CheckpointError(f"{Path(path).name} is not a legacy PyTorch checkpoint")
        pickle.load(fh)  # protocol version
        sys_info = pickle.load(fh)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise CheckpointError("big-endian checkpoints are not supported")
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(fh, storages).load()
        keys = pickle.load(fh)
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", fh.read(8))
            raw = fh.read(numel * storage.dtype.itemsize)
            if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
                raise CheckpointError("checkpoint storage is truncated")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    return _to_arrays(obj)
