"""Small synthetic model inputs with known targets, shared by the model tests (fixtures in conftest.py)."""
import torch


def make_two_rectangles(height: int = 128, width: int = 128):
    """An image with two coloured rectangles ([3, h, w] 0..255) and its target (labels 1 and 2)."""
    image = torch.full((3, height, width), 40.0)
    masks = torch.zeros(2, height, width, dtype=torch.bool)
    masks[0, 16:64, 20:80] = True
    masks[1, 60:120, 84:124] = True
    image[:, masks[0]] = torch.tensor([220.0, 30.0, 30.0])[:, None]
    image[:, masks[1]] = torch.tensor([30.0, 200.0, 60.0])[:, None]
    target = {
        "boxes": torch.tensor([[20.0, 16.0, 80.0, 64.0], [84.0, 60.0, 124.0, 120.0]]),
        "labels": torch.tensor([1, 2]),
        "masks": masks,
    }
    return image, target


def make_empty_target(height: int, width: int):
    """A target without any instance (an image with no ground truth)."""
    return {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, height, width, dtype=torch.bool),
    }
