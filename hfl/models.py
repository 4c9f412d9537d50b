"""Models, chosen by name: a small CNN for CPU runs and torchvision's ResNets in their CIFAR form.

The ResNets are the library's own (`torchvision.models.resnet18/50`) with the ImageNet stem
(7x7 stride-2 conv + max-pool, which would shrink a 32x32 image to 8x8 before the first block)
replaced by a 3x3 stride-1 conv and no max-pool, as in He et al.'s CIFAR experiments; the paper
trains ResNet-50. The small CNN has no buffers (no batch norm), so a station's clients can be
trained together with `torch.func.vmap` over stacked parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from hfl.config import MODELS, ConfigError


class SmallCNN(nn.Module):
    """Three 3x3 conv layers and a linear head; works for any input size >= 2x2.

    Width 16 learns digits as well as 32 did (96-97% after 3 centralized epochs) at half the CPU time.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),  # [B, w, H, W]
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # [B, 2w, H/2, W/2]
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            # A 4x4 map keeps where strokes are (global pooling would discard it and learn slower).
            nn.AdaptiveAvgPool2d(4),  # [B, 2w, 4, 4]
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * 16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, H, W] float -> [B, num_classes]
        return self.head(self.features(x))


def _cifar_resnet(name: str, in_channels: int, num_classes: int) -> nn.Module:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def build_model(name: str, in_channels: int, num_classes: int) -> nn.Module:
    """A freshly initialised model (uses torch's global RNG: seed it, or use `hfl.train.init_state`)."""
    if name == "cnn":
        return SmallCNN(in_channels, num_classes)
    if name in ("resnet18", "resnet50"):
        return _cifar_resnet(name, in_channels, num_classes)
    raise ConfigError("model", f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def has_buffers(model: nn.Module) -> bool:
    """Batch-norm statistics and the like: such models are trained client by client, not by vmap."""
    return any(True for _ in model.buffers())


__all__ = ["SmallCNN", "build_model", "has_buffers"]
