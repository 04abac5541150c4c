"""torchvision VGG16 as the image student (the paper's option), only when torchvision is importable.

The torchvision wheel on PyPI does not install beside torch 2.13.0 in this environment, so
asking for ``vgg16`` here raises a :class:`~distilhash.errors.ConfigError` that says so. With
torchvision present, the features + first two classifier layers (4096-d) are used; ImageNet
weights are loaded from ``weights_path`` (a local ``.pth`` state dict) when given — nothing is
downloaded.
"""

from __future__ import annotations

from distilhash.errors import ConfigError
from distilhash.students import IMAGE_STUDENTS

__all__ = ["vgg16_student"]


@IMAGE_STUDENTS.register("vgg16")
def vgg16_student(image_size: int = 224, weights_path: str | None = None, **_: object):
    """VGG16 trunk: uint8 ``[n, S, S, 3]`` -> ``[n, 4096]``; needs torchvision (see module docstring)."""
    try:
        import torchvision  # noqa: F401
        from torchvision.models import vgg16
    except Exception as exc:  # ImportError, or a binary mismatch with the installed torch
        raise ConfigError(
            "image student 'vgg16' needs torchvision, which is not importable here "
            f"({type(exc).__name__}: {exc}); the PyPI torchvision wheel does not install beside torch 2.13.0 "
            "in this environment. Use image_net='small-cnn' (the default) instead."
        ) from None
    import torch
    from torch import nn

    net = vgg16(weights=None)
    if weights_path:
        net.load_state_dict(torch.load(weights_path, map_location="cpu"))

    class _VGGTrunk(nn.Module):
        frozen_prefix = False  # forward reads pixels only

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.out_dim = 4096
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels.permute(0, 3, 1, 2).float() / 255.0
            x = (x - self.mean) / self.std
            x = self.net.avgpool(self.net.features(x)).flatten(1)
            return self.net.classifier[:5](x)

    return _VGGTrunk()
