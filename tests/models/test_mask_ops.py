import torch

from vis.models.mask_ops import _paste_chunk, crop_and_resize_masks, paste_masks_in_image


def test_paste_full_mask_fills_exactly_the_box():
    masks = torch.ones(2, 28, 28)
    boxes = torch.tensor([[10.0, 20.0, 50.0, 60.0], [0.0, 0.0, 7.0, 3.0]])
    out = paste_masks_in_image(masks, boxes, (80, 100))
    assert out.dtype == torch.bool and out.shape == (2, 80, 100)
    expected = torch.zeros(2, 80, 100, dtype=torch.bool)
    expected[0, 20:60, 10:50] = True
    expected[1, 0:3, 0:7] = True
    assert torch.equal(out, expected)


def test_paste_crop_region_matches_whole_image_path():
    torch.manual_seed(0)
    masks = torch.rand(3, 28, 28)
    boxes = torch.tensor([[5.3, 7.1, 40.2, 33.9], [-10.0, 50.0, 30.0, 90.0], [60.0, 2.0, 99.5, 20.0]])
    whole = torch.zeros(3, 64, 96, dtype=torch.bool)
    for i in range(3):
        pasted, rows, cols = _paste_chunk(masks[i : i + 1], boxes[i : i + 1], (64, 96), 0.5, crop_to_boxes=True)
        whole[i, rows, cols] = pasted[0]
    full, rows, cols = _paste_chunk(masks, boxes, (64, 96), 0.5, crop_to_boxes=False)
    assert torch.equal(whole, full)
    assert torch.equal(paste_masks_in_image(masks, boxes, (64, 96)), full)


def test_paste_box_outside_and_empty():
    out = paste_masks_in_image(torch.ones(1, 28, 28), torch.tensor([[200.0, 200.0, 220.0, 230.0]]), (50, 60))
    assert not out.any()
    assert paste_masks_in_image(torch.ones(0, 28, 28), torch.zeros(0, 4), (50, 60)).shape == (0, 50, 60)


def test_crop_and_resize_mask_equal_to_its_box_is_all_ones():
    gt = torch.zeros(2, 60, 80, dtype=torch.bool)
    gt[0, 10:40, 20:70] = True
    gt[1, 0:60, 0:40] = True
    boxes = torch.tensor([[20.0, 10.0, 70.0, 40.0], [0.0, 0.0, 40.0, 60.0], [0.0, 0.0, 80.0, 60.0]])
    out = crop_and_resize_masks(gt, boxes, torch.tensor([0, 1, 1]), size=28)
    assert out.shape == (3, 28, 28) and out.dtype == torch.float32
    assert out[0].mean() > 0.99 and out[1].mean() > 0.99
    # whole image box on mask 1: the left half is foreground
    assert torch.all(out[2, :, :13] == 1) and torch.all(out[2, :, 15:] == 0)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_crop_and_resize_clips_boxes_to_mask():
    gt = torch.ones(1, 20, 20, dtype=torch.bool)
    # the box extends past the mask: clipped to the mask first, so the target stays all ones
    out = crop_and_resize_masks(gt, torch.tensor([[-10.0, -10.0, 30.0, 30.0]]), torch.tensor([0]), size=14)
    assert torch.all(out == 1)


def test_deferred_masks_index_like_a_tensor_and_paste_the_same_bits():
    import numpy as np

    from vis.models.mask_ops import DeferredMasks
    from vis.structures import Instances, image_masks

    torch.manual_seed(0)
    probs = torch.rand(5, 28, 28)
    boxes = torch.tensor([[-10.0, 5, 40, 60], [3, 3, 90, 70], [50, -4, 120, 30], [0, 0, 1, 1], [20, 20, 21, 80]])
    eager = paste_masks_in_image(probs, boxes, (64, 100), threshold=0.4)
    deferred = DeferredMasks(probs, boxes, (64, 100), threshold=0.4)
    assert len(deferred) == 5 and deferred.shape == (5, 64, 100)
    assert torch.equal(deferred.paste(), eager)
    for index in (np.array([4, 1]), torch.tensor([True, False, True, False, True]), slice(1, 3), -1):
        picked = deferred[index]
        expected = eager[torch.as_tensor(index)] if not isinstance(index, (slice, int)) else (
            eager[index] if isinstance(index, slice) else eager[-1:])
        assert torch.equal(picked.paste(), expected)
    # As an Instances field: selections carry it, image_masks pastes what is left; tensors pass through.
    inst = Instances((64, 100), boxes=boxes.clone(), scores=torch.linspace(0.9, 0.1, 5), masks=deferred)
    kept = inst[inst.scores > 0.4]
    kept.boxes = kept.boxes.clamp(0, 64)  # clipping the boxes afterwards does not change the masks
    assert torch.equal(image_masks(kept.masks), eager[:3])
    assert image_masks(eager) is eager


import pytest  # noqa: E402


@pytest.mark.parametrize("config", ["queryinst_tiny_shapes", "istr_tiny_shapes", "solq_tiny_shapes",
                                    "queryinst_vis_tiny_shapes"])
def test_every_segmenter_defers_masks_to_the_same_bits(config):
    """predict(defer_masks=True) + selection + image_masks == predict() + the same selection, every model."""
    from vis.config import load_config
    from vis.models import build_model
    from vis.structures import image_masks

    torch.manual_seed(0)
    model = build_model(load_config(f"configs/shapes/{config}.py").model).eval()
    images = [torch.rand(3, 96, 128) * 255, torch.rand(3, 80, 112) * 255]
    sizes = [(150, 200), (81, 113)]
    with torch.no_grad():
        eager = model.predict(images, orig_sizes=sizes)
        deferred = model.predict(images, orig_sizes=sizes, defer_masks=True)
    for full, lazy in zip(eager, deferred):
        assert not isinstance(lazy.masks, torch.Tensor) and lazy.masks.shape == tuple(full.masks.shape)
        assert torch.equal(lazy.scores, full.scores) and torch.equal(lazy.boxes, full.boxes)
        keep = torch.arange(len(full)) % 3 == 0
        assert torch.equal(image_masks(lazy[keep].masks), full[keep].masks)
