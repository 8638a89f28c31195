"""Regenerate data/torch_mobilenet_v2_logits.json: torch's own answer for the offline weights.

Not a test and not run in CI: it needs torch, which the project does not install. Run it in
a throwaway venv (`python -m venv /tmp/t && /tmp/t/bin/pip install torch==2.13.0 numpy pillow
scikit-learn keras-image-helper`) from the repository root:
`/tmp/t/bin/python tests/training/make_torch_reference.py`. The network below is written
from the MobileNetV2 paper's table (torchvision's layout and state-dict names), independently
of the Keras mapping it checks.
"""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from torch import nn

from skinlesion.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.offline_weights import mobilenet_v2_pth

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


def main() -> None:
    model = MobileNetV2()
    model.load_state_dict(torch.load(mobilenet_v2_pth(), weights_only=True))
    model.eval()
    preprocessor = Preprocessor(PreprocessSpec())
    x = np.concatenate(
        [preprocessor.convert_to_tensor(Image.fromarray(load_sample_image(n))) for n in IMAGES]
    )
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    images = {}
    for name, row in zip(IMAGES, logits, strict=True):
        top = np.argsort(row)[::-1][:10]
        images[name] = {"top_indices": top.tolist(), "top_logits": [round(float(row[i]), 6) for i in top]}
    out = {
        "source": f"torch {torch.__version__}, {Path(__file__).name}, {mobilenet_v2_pth().name}",
        "input": "sklearn.datasets.load_sample_image(name) through Preprocessor(PreprocessSpec()) "
        "(224x224, bilinear, torch scaling)",
        "images": images,
    }
    path = Path(__file__).parent / "data" / "torch_mobilenet_v2_logits.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
