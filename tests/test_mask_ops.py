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
