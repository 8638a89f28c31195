"""Regenerate data/torch_*_logits.json: torch's own answer for each offline ImageNet weights file.

Not a test and not run in CI: it needs torch, which the project does not install. Run it in
a throwaway venv (`python -m venv /tmp/t && /tmp/t/bin/pip install torch==2.13.0 numpy pillow
scikit-learn`) from the repository root:
`PYTHONPATH=. /tmp/t/bin/python tests/training/make_torch_reference.py`. The networks below are
written from the papers' tables, independently of the Keras graphs and mappings they check:
MobileNetV2 in torchvision's layout and state-dict names; EfficientNet-Lite0 (EfficientNet-B0's
stages without squeeze-excitation, ReLU6, BatchNorm epsilon 1e-3, TF "SAME" padding) in
EfficientNet-PyTorch's state-dict names, which the converted TF checkpoint uses.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's convention)
from PIL import Image
from sklearn.datasets import load_sample_image
from torch import nn

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.offline_weights import efficientnet_lite0_pth, mobilenet_v2_pth

DATA = Path(__file__).parent / "data"
IMAGES = ("china.jpg", "flower.jpg")
# expansion t, output channels c, repeats n, first stride s
SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# EfficientNet-B0's stages: expansion t, output channels c, repeats n, first stride s, kernel k
LITE0_SETTINGS = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)
LITE0_SIZES = ((224, 224), (200, 150))  # (width, height): the reference size and the project's


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers = [] if expansion == 1 else [conv_bn_relu(cin, hidden, 1)]
        layers += [conv_bn_relu(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, cout, 1, bias=False)]
        self.conv = nn.Sequential(*layers, nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        features, cin = [conv_bn_relu(3, 32, 3, 2)], 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_relu(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


class SameConv2d(nn.Conv2d):
    """Conv2d with TF's "SAME" padding: output size ceil(input / stride), any odd pixel after."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = []
        for size in (x.shape[3], x.shape[2]):  # F.pad takes the last dimension first
            total = max(
                (math.ceil(size / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - size, 0
            )
            pad += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pad))


def lite_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)


class LiteBlock(nn.Module):
    """MBConv without squeeze-excitation: 1x1 expand, depthwise, 1x1 project, ReLU6, skip if shapes allow."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int, kernel: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = lite_bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = lite_bn(hidden)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = lite_bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = lite_bn(32)
        blocks, cin = [], 32
        for t, c, n, s, k in LITE0_SETTINGS:
            for i in range(n):
                blocks.append(LiteBlock(cin, c, t, s if i == 0 else 1, k))
                cin = c
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = lite_bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._fc(F.relu6(self._bn1(self._conv_head(x))).mean((2, 3)))


def top10(model: nn.Module, pth: Path, x: np.ndarray) -> list[dict[str, list]]:
    """The 10 largest logits of each image (NHWC in, as Keras takes it), by a strict state-dict load."""
    model.load_state_dict(torch.load(pth, weights_only=True))
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    rows = []
    for row in logits:
        top = np.argsort(row)[::-1][:10]
        rows.append({"top_indices": top.tolist(), "top_logits": [round(float(row[i]), 6) for i in top]})
    return rows


def write_mobilenet_v2() -> None:
    preprocessor = Preprocessor(PreprocessSpec())
    x = np.concatenate(
        [preprocessor.convert_to_tensor(Image.fromarray(load_sample_image(n))) for n in IMAGES]
    )
    rows = top10(MobileNetV2(), mobilenet_v2_pth(), x)
    out = {
        "source": f"torch {torch.__version__}, {Path(__file__).name}, {mobilenet_v2_pth().name}",
        "input": "sklearn.datasets.load_sample_image(name) through Preprocessor(PreprocessSpec()) "
        "(224x224, bilinear, torch scaling)",
        "images": dict(zip(IMAGES, rows, strict=True)),
    }
    (DATA / "torch_mobilenet_v2_logits.json").write_text(json.dumps(out, indent=1) + "\n")


def write_efficientnet_lite0() -> None:
    inputs = []
    for size in LITE0_SIZES:
        preprocessor = Preprocessor(PreprocessSpec(input_size=size))
        resized = np.stack(
            [preprocessor.resized_array(Image.fromarray(load_sample_image(n))) for n in IMAGES]
        )
        x = (resized.astype(np.float32) - 127) / 128
        for name, row in zip(IMAGES, top10(EfficientNetLite0(), efficientnet_lite0_pth(), x), strict=True):
            inputs.append({"image": name, "input_size": list(size), **row})
    out = {
        "source": f"torch {torch.__version__}, {Path(__file__).name}, {efficientnet_lite0_pth().name}",
        "input": "sklearn.datasets.load_sample_image(image) resized to input_size (width, height) by "
        "Preprocessor(PreprocessSpec(input_size=...)).resized_array, then (x - 127) / 128",
        "inputs": inputs,
    }
    (DATA / "torch_efficientnet_lite0_logits.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    write_mobilenet_v2()
    write_efficientnet_lite0()
