"""The image sets HCFL knows by name (their classes, image shape and normalisation), and the names
of torchvision's classification models.

A job (`hfl.config.TrainConfig`) on one of these needs only the name: every participant's folder
of it has the same classes in the same order and the same image shape. Any other data (an
`ImageFolder` of one's own, a participant's `.npz` folder) carries its class names and shape in
the job itself, read from the data (`hfl.folders.describe_folder`).

Normalisation constants are the per-channel pixel mean and standard deviation (pixels scaled to
[0, 1]) of each set's training split, as commonly published; data of unknown origin is
normalised with 0.5 and 0.5 (pixels to [-1, 1]), the usual choice when nothing is known.

Torch-free, so that an agent can check a proposal without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The `fine_label_names` of the CIFAR-100 python format's `meta` file, in their order.
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)
# torchvision.datasets.MNIST.classes and FashionMNIST.classes (copied: this module imports no torch).
MNIST_CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
                 "8 - eight", "9 - nine")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
# `torchvision.models.list_models(module=torchvision.models)` of the pinned torchvision 0.29, so that an
# agent checks a proposal's model name without loading torch (a phase lasts seconds);
# tests/test_hfl_models.py checks it against the installed registry, which any other name is
# looked up in (hfl.models.check_builtin).
TORCHVISION_CLASSIFIERS = (
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny", "densenet121", "densenet161",
    "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_l",
    "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t", "mnasnet0_5", "mnasnet0_75",
    "mnasnet1_0", "mnasnet1_3", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_x_16gf",
    "regnet_x_1_6gf", "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_8gf",
    "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf", "regnet_y_400mf",
    "regnet_y_800mf", "regnet_y_8gf", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1", "swin_b", "swin_s", "swin_t",
    "swin_v2_b", "swin_v2_s", "swin_v2_t", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32", "wide_resnet101_2", "wide_resnet50_2",
)
UNKNOWN_MEAN = 0.5
UNKNOWN_STD = 0.5


@dataclass(frozen=True)
class KnownSet:
    """A named image set: its classes (label l is `classes[l]`), image shape (C, H, W) and normalisation."""

    name: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]


KNOWN = {s.name: s for s in (
    # digits: pixel mean/std over the whole set (0..16 scaled to [0, 1]).
    KnownSet("digits", DIGIT_CLASSES, (1, 8, 8), (0.3053,), (0.3760,)),
    KnownSet("cifar10", CIFAR10_CLASSES, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    KnownSet("cifar100", CIFAR100_CLASSES, (3, 32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    KnownSet("mnist", MNIST_CLASSES, (1, 28, 28), (0.1307,), (0.3081,)),
    KnownSet("fashion-mnist", FASHION_MNIST_CLASSES, (1, 28, 28), (0.2860,), (0.3530,)),
    KnownSet("svhn", DIGIT_CLASSES, (3, 32, 32), (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
)}


def normalisation(dataset: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel: the known set's when `dataset` names one with `channels` channels, else 0.5s."""
    known = KNOWN.get(dataset)
    if known is not None and known.shape[0] == channels:
        return known.mean, known.std
    return (UNKNOWN_MEAN,) * channels, (UNKNOWN_STD,) * channels


__all__ = ["CIFAR100_CLASSES", "CIFAR10_CLASSES", "DIGIT_CLASSES", "FASHION_MNIST_CLASSES", "KNOWN", "KnownSet",
           "MNIST_CLASSES", "TORCHVISION_CLASSIFIERS", "normalisation"]
