"""Small model inputs and tiny model configs shared by several test files (fixtures are in conftest.py)."""
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


# A two-stage 32-d QueryInst and a VideoSegmenter around it: the video-model tests' and the export tests' model.
TINY_QUERYINST_CONFIG = dict(type="QueryInst", num_classes=3, num_proposals=10, num_stages=2,
                      backbone=dict(depth=18, frozen_stages=1, norm_eval=True), hidden_dim=32, num_heads=4,
                      feedforward_channels=64, dynamic_channels=8, num_reg_fcs=1, mask_num_convs=1, max_per_img=8)
TINY_VIDEO_SEGMENTER = dict(type="VideoSegmenter", segmenter=TINY_QUERYINST_CONFIG, track_head=dict(fc_channels=64))

# A 3-layer 64-d SOLQ (the SOLQ tests' and the export tests' model).
TINY_SOLQ = dict(
    num_classes=3,
    num_queries=12,
    backbone=dict(depth=18, frozen_stages=1, norm="bn", norm_eval=True),
    hidden_dim=64,
    num_heads=4,
    enc_layers=2,
    dec_layers=3,
    dim_feedforward=128,
    dropout=0.0,
    vector_hidden_dim=64,
    max_per_img=15,
)


def rectangle_masks(num=400, size=28, seed=0):
    """Random axis-aligned boxes and ellipses inside a 28x28 box frame: enough variety for a 60-d basis."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    masks = []
    for i in range(num):
        x1, y1 = torch.randint(0, size // 2, (2,), generator=gen).tolist()
        x2, y2 = torch.randint(size // 2 + 1, size + 1, (2,), generator=gen).tolist()
        if i % 2:
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            masks.append((((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1).float())
        else:
            m = torch.zeros(size, size)
            m[y1:y2, x1:x2] = 1
            masks.append(m)
    return torch.stack(masks)
