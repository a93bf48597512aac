import itertools
import math

import torch

from vis.models.matcher import HungarianMatcher


def _random_boxes(n, size=100.0):
    xy = torch.rand(n, 2) * size
    return torch.cat([xy, xy + 5 + torch.rand(n, 2) * size], dim=1)


def _giou(a, b):
    area = lambda t: (t[2] - t[0]) * (t[3] - t[1])
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = area(a) + area(b) - inter
    enclose = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (enclose - union) / enclose


def _hand_cost(logits, boxes, labels, gt_boxes, image_size):
    """The reference cost written out element by element."""
    h, w = image_size
    scale = [w, h, w, h]
    cost = torch.zeros(len(boxes), len(gt_boxes), dtype=torch.float64)
    for i in range(len(boxes)):
        for j in range(len(gt_boxes)):
            p = 1 / (1 + math.exp(-logits[i, labels[j]].item()))
            pos = -math.log(p + 1e-12) * 0.25 * (1 - p) ** 2
            neg = -math.log(1 - p + 1e-12) * 0.75 * p**2
            l1 = sum(abs(boxes[i, k].item() - gt_boxes[j, k].item()) / scale[k] for k in range(4))
            cost[i, j] = 2.0 * (pos - neg) + 5.0 * l1 - 2.0 * _giou(boxes[i].tolist(), gt_boxes[j].tolist())
    return cost


def _brute_force_min(cost):
    num_preds, num_gts = cost.shape
    best = math.inf
    if num_gts <= num_preds:
        for preds in itertools.permutations(range(num_preds), num_gts):
            best = min(best, sum(cost[p, g].item() for g, p in enumerate(preds)))
    else:
        for gts in itertools.permutations(range(num_gts), num_preds):
            best = min(best, sum(cost[p, g].item() for p, g in enumerate(gts)))
    return best


def test_matches_brute_force_on_random_cases():
    torch.manual_seed(0)
    matcher = HungarianMatcher()
    for num_preds, num_gts in [(5, 3), (6, 6), (4, 1), (3, 5)]:
        for _ in range(3):
            image_size = (120, 90)
            logits = torch.randn(num_preds, 4)
            boxes = _random_boxes(num_preds)
            labels = torch.randint(0, 4, (num_gts,))
            gt_boxes = _random_boxes(num_gts)
            cost = _hand_cost(logits, boxes, labels, gt_boxes, image_size)
            ours = matcher.cost_matrix(logits, boxes, labels, gt_boxes, image_size)
            assert torch.allclose(ours.double(), cost, atol=1e-4)
            pred_idx, gt_idx = matcher.match_single(logits, boxes, labels, gt_boxes, image_size)
            assert pred_idx.dtype == torch.int64 and gt_idx.dtype == torch.int64
            assert len(pred_idx) == min(num_preds, num_gts)
            assert len(set(pred_idx.tolist())) == len(pred_idx) and len(set(gt_idx.tolist())) == len(gt_idx)
            assert torch.all(pred_idx[1:] > pred_idx[:-1])
            total = sum(cost[p, g].item() for p, g in zip(pred_idx.tolist(), gt_idx.tolist()))
            assert math.isclose(total, _brute_force_min(cost), abs_tol=1e-4)


def test_zero_gt_and_batched_forward():
    matcher = HungarianMatcher()
    logits = torch.randn(2, 5, 3)
    boxes = torch.stack([_random_boxes(5), _random_boxes(5)])
    targets = [
        {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
        {"labels": torch.tensor([2, 0]), "boxes": _random_boxes(2)},
    ]
    matches = matcher(logits, boxes, targets, [(100, 100), (100, 100)])
    assert [len(p) for p, _ in matches] == [0, 2]
    assert matches[0][0].dtype == torch.int64 and matches[0][1].dtype == torch.int64


def test_extra_cost_and_cxcywh_option():
    torch.manual_seed(1)
    logits = torch.zeros(3, 2)
    boxes = _random_boxes(3)
    labels = torch.tensor([0, 1])
    gt_boxes = _random_boxes(2)
    matcher = HungarianMatcher()
    # An extra cost that makes (query 2 -> GT 0, query 0 -> GT 1) far cheaper than anything else.
    extra = torch.full((3, 2), 1000.0)
    extra[2, 0] = 0.0
    extra[0, 1] = 0.0
    pred_idx, gt_idx = matcher.match_single(logits, boxes, labels, gt_boxes, (100, 100), extra_cost=extra)
    assert pred_idx.tolist() == [0, 2] and gt_idx.tolist() == [1, 0]
    # cxcywh L1: |dcx| + |dcy| + |dw| + |dh| on normalised boxes
    solq = HungarianMatcher(cost_class=0.0, cost_giou=0.0, l1_box_format="cxcywh")
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[0.0, 0.0, 20.0, 10.0]])
    cost = solq.cost_matrix(torch.zeros(1, 1), a, torch.tensor([0]), b, (10, 100))
    assert torch.allclose(cost, torch.tensor([[5.0 * (0.05 + 0.1)]]))
