import math

import torch

from vis.models.losses import dice_loss, giou_loss, l1_loss, reduce_mean, sigmoid_focal_loss


def test_focal_loss_hand_values():
    logits = torch.zeros(2)  # p = 0.5
    targets = torch.tensor([1.0, 0.0])
    per = sigmoid_focal_loss(logits, targets, reduction="none")
    pos = 0.25 * 0.5**2 * math.log(2)
    neg = 0.75 * 0.5**2 * math.log(2)
    assert torch.allclose(per, torch.tensor([pos, neg]))
    assert math.isclose(sigmoid_focal_loss(logits, targets).item(), pos + neg, rel_tol=1e-6)  # sum form


def test_focal_loss_general_value():
    x = torch.tensor([2.0])
    p = 1 / (1 + math.exp(-2.0))
    expected_neg = -math.log(1 - p) * 0.75 * p**2
    expected_pos = -math.log(p) * 0.25 * (1 - p) ** 2
    assert math.isclose(sigmoid_focal_loss(x, torch.tensor([0.0])).item(), expected_neg, rel_tol=1e-5)
    assert math.isclose(sigmoid_focal_loss(x, torch.tensor([1.0])).item(), expected_pos, rel_tol=1e-5)


def test_giou_loss_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 4.0, 4.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 4.0, 4.0]])
    # overlap: inter 1, union 7, enclose 9; disjoint: inter 0, union 2, enclose 3; identical: giou 1
    expected = torch.tensor([1 - (1 / 7 - 2 / 9), 1 - (0 - 1 / 3), 0.0])
    assert torch.allclose(giou_loss(a, b, reduction="none"), expected, atol=1e-6)
    assert math.isclose(giou_loss(a, b).item(), expected.sum().item(), rel_tol=1e-6)


def test_giou_loss_degenerate_target_is_finite():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    target = torch.tensor([[1.0, 1.0, 1.0, 1.0]])  # zero-area GT
    assert torch.isfinite(giou_loss(pred, target)).all()


def test_dice_loss_hand_value():
    x = torch.tensor([[1.0, 0.5, 0.0, 0.0]])
    y = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # 1 - 2 * 1.5 / ((1.25 + eps) + (2 + eps))
    expected = 1 - 3.0 / ((1.25 + 1e-5) + (2.0 + 1e-5))
    assert math.isclose(dice_loss(x, y).item(), expected, rel_tol=1e-6)
    assert math.isclose(dice_loss(y, y).item(), 1 - 4.0 / (4.0 + 2e-5), abs_tol=1e-6)
    two = dice_loss(torch.cat([x, y]).view(2, 2, 2), torch.cat([y, y]).view(2, 2, 2), reduction="none")
    assert two.shape == (2,)


def test_l1_and_reduce_mean():
    assert l1_loss(torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.0])).item() == 3.0
    value = torch.tensor(3.0)
    assert reduce_mean(value) is value  # not distributed: identity
