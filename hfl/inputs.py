"""How a model is fed a data set's images: the rules that need no torch.

The small CNN and a plugin's model take the images as they are (a plugin adapts them itself); the
ResNet family takes them as they are too, with the CIFAR stem on small images (both sides below
`IMAGENET_STEM_FROM`). Every other torchvision model may need them resized to its least input
size, which only torchvision knows (`hfl.models.input_plan`). Kept apart from `hfl.models` so that
an agent describing or checking a proposal of the small CNN or a ResNet imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

CNN = "cnn"
# Images at least this large on a side keep the ResNets' ImageNet stem (it brings them to >= 32x32
# feature maps before the first block, the CIFAR ResNets' resolution).
IMAGENET_STEM_FROM = 128


@dataclass(frozen=True)
class InputPlan:
    """How a model sees the data: the data's (C, H, W), the size the model is fed, and why."""

    channels: int
    height: int
    width: int
    model_size: tuple[int, int]
    adaptation: str  # "none", "cifar-stem", "resize" or "plugin"

    def to_dict(self) -> dict[str, object]:
        """The description document's `input` field."""
        return {"channels": self.channels, "height": self.height, "width": self.width,
                "model_height": self.model_size[0], "model_width": self.model_size[1], "adaptation": self.adaptation}


def is_resnet(name: str) -> bool:
    """torchvision's ResNet family: resnet*, resnext*, wide_resnet*."""
    return name.startswith(("resnet", "resnext", "wide_resnet"))


def cifar_stem(image_size: tuple[int, int] | None) -> bool:
    """Whether a ResNet gets the CIFAR stem for images of `image_size` (None: small images)."""
    return image_size is None or max(image_size) < IMAGENET_STEM_FROM


def simple_plan(name: str, shape: tuple[int, int, int], plugin: str | None = None) -> InputPlan | None:
    """The plan of the small CNN, a plugin's model or a ResNet; None for the other torchvision models."""
    c, h, w = shape
    if plugin is not None:
        return InputPlan(c, h, w, (h, w), "plugin")
    if name == CNN:
        return InputPlan(c, h, w, (h, w), "none")
    if is_resnet(name):
        return InputPlan(c, h, w, (h, w), "cifar-stem" if cifar_stem((h, w)) else "none")
    return None


__all__ = ["CNN", "IMAGENET_STEM_FROM", "InputPlan", "cifar_stem", "is_resnet", "simple_plan"]
