"""Read a legacy (non-zip) PyTorch checkpoint into numpy arrays, without torch.

The offline ImageNet weights (torchvision's `mobilenet_v2-b0353104.pth`) use the pre-1.6
serialisation: a few pickles followed by the raw bytes of every tensor storage. Unpickling
arbitrary data runs arbitrary code, so only the handful of globals a state dict needs are
allowed, and they are mapped to harmless numpy-building stand-ins.
"""

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


@dataclass
class _Storage:
    dtype: type
    size: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        assert self.storage.data is not None, "storage bytes not read yet"
        itemsize = self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset :],
            shape=self.shape,
            strides=tuple(s * itemsize for s in self.stride),
        )
        return np.array(view)  # own the memory, in C order


class _StorageType:
    """Stands in for `torch.FloatStorage` etc.: only its name is needed."""

    def __init__(self, name: str) -> None:
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, shape: tuple, stride: tuple, *_unused: Any
) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, size = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(size))
        return self.storages[key]


def load_legacy_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a legacy torch checkpoint, by its state-dict name."""
    with open(path, "rb") as f:
        raw = io.BytesIO(f.read())
    if pickle.load(raw) != LEGACY_MAGIC:
        raise ValueError(f"{path} is not a legacy (pre-1.6) torch checkpoint")
    pickle.load(raw)  # protocol version
    pickle.load(raw)  # sys info (endianness, type sizes)
    storages: dict[str, _Storage] = {}
    state = _RestrictedUnpickler(raw, storages).load()
    keys = pickle.load(raw)
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", raw.read(8))
        if count != storage.size:
            raise ValueError(f"storage {key}: header says {count} elements, pickle says {storage.size}")
        nbytes = count * np.dtype(storage.dtype).itemsize
        storage.data = np.frombuffer(raw.read(nbytes), dtype=storage.dtype)
    return {name: ref.to_numpy() for name, ref in state.items()}
