"""Read a legacy (non-zip) PyTorch checkpoint into numpy arrays without torch, and set Keras layers from it.

Both offline ImageNet weights (`mobilenet_v2-b0353104.pth`, `efficientnet-lite0-57934424.pth`)
use the pre-1.6 serialisation: a few pickles followed by the raw bytes of every tensor storage.
Unpickling arbitrary data runs arbitrary code, so only the handful of globals a state dict
needs are allowed, and they are mapped to harmless numpy-building stand-ins.

A backbone's mapping reads the checkpoint through `Checkpoint`, which remembers what was read,
so `assign_weights` can refuse a Keras layer left without weights, a mapped name with no layer,
and a checkpoint tensor nothing used (the sign of a checkpoint for another architecture).
"""

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import keras
import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
KERAS_BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, which the backbones keep
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


class Checkpoint:
    """A state dict that records which tensors were read, and names a missing one clearly."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.tensors:
            raise KeyError(f"the checkpoint has no tensor {name!r}")
        self.read.add(name)
        return self.tensors[name]


def conv_kernel(weight: np.ndarray) -> list[np.ndarray]:
    return [weight.transpose(2, 3, 1, 0)]  # [out, in, kh, kw] -> [kh, kw, in, out]


def depthwise_kernel(weight: np.ndarray) -> list[np.ndarray]:
    return [weight.transpose(2, 3, 0, 1)]  # [C, 1, kh, kw] -> [kh, kw, C, 1]


def batch_norm(checkpoint: Checkpoint, prefix: str, torch_eps: float) -> list[np.ndarray]:
    """torch BatchNorm -> Keras [gamma, beta, mean, variance], any epsilon difference folded into gamma."""
    gamma, beta = checkpoint[f"{prefix}.weight"], checkpoint[f"{prefix}.bias"]
    mean, var = checkpoint[f"{prefix}.running_mean"], checkpoint[f"{prefix}.running_var"]
    gamma = gamma * np.sqrt(var + KERAS_BN_EPSILON) / np.sqrt(var + torch_eps)
    return [gamma, beta, mean, var]


def assign_weights(
    model: keras.Model,
    mapped: dict[str, list[np.ndarray]],
    checkpoint: Checkpoint,
    unused_ok: tuple[str, ...] = (),
) -> None:
    """Set every weighted layer of `model` from `mapped` (layer name -> weights), or refuse.

    Checkpoint tensors that may go unread: BatchNorm's step counters, and names starting with
    one of `unused_ok` (a classifier the model does not include).
    """
    weighted = {layer.name for layer in model.layers if layer.weights}
    unread = sorted(
        name
        for name in set(checkpoint.tensors) - checkpoint.read
        if not name.endswith(".num_batches_tracked") and not name.startswith(unused_ok)
    )
    if weighted != set(mapped) or unread:
        raise ValueError(
            f"layers without torch weights: {sorted(weighted - set(mapped))}; "
            f"torch weights without a layer: {sorted(set(mapped) - weighted)}; "
            f"checkpoint tensors never read: {unread}"
        )
    for name, weights in mapped.items():
        model.get_layer(name).set_weights(weights)
