"""The `FrameSegmenter` contract, once for all three segmenters (the tiny shapes configs, seeded): the loss names
of the shared set criterion, a backward pass that reaches every trainable parameter, images without ground truth,
and what ``predict`` returns. Each model's own formulas and reference layouts are tested in its own file."""
import pytest
import torch

from inputs import make_empty_target, make_two_rectangles
from vis.structures import Instances

# The loss terms each segmenter's criterion computes per prediction set (cascade stage / decoder layer).
TERMS = {
    "QueryInst": ("cls", "bbox", "giou", "mask"),
    "ISTR": ("cls", "bbox", "giou", "feat", "dice"),
    "SOLQ": ("cls", "bbox", "giou", "vector"),
}
MATCHED_TERMS = {"bbox", "giou", "mask", "feat", "dice", "vector"}  # zero when no query is matched


def num_prediction_sets(model) -> int:
    return int(getattr(model, "num_stages", None) or model.dec_layers)


def test_loss_names_are_one_per_term_and_prediction_set(tiny_segmenter):
    model = tiny_segmenter
    model.train()
    image, target = make_two_rectangles(128, 128)
    losses = model([image], [target])
    sets = num_prediction_sets(model)
    terms = TERMS[type(model).__name__]
    assert set(losses) == {f"s{i}.loss_{term}" for i in range(sets) for term in terms}
    assert all(v.dim() == 0 and torch.isfinite(v) and v >= 0 for v in losses.values())


def test_backward_reaches_every_trainable_parameter(tiny_segmenter):
    model = tiny_segmenter
    model.train()
    model.zero_grad()
    image, target = make_two_rectangles(128, 128)
    other = torch.rand(3, 96, 112, generator=torch.Generator().manual_seed(0)) * 255
    losses = model([image, other], [target, make_empty_target(96, 112)])
    sum(losses.values()).backward()
    unreached = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unreached, unreached
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert all(p.grad is None for name, p in model.named_parameters() if name in frozen)
    trained = sum(int(p.grad.abs().sum() > 0) for p in model.parameters() if p.grad is not None)
    assert trained > 0.9 * sum(1 for p in model.parameters() if p.requires_grad)


def test_images_without_ground_truth_give_finite_losses(tiny_segmenter):
    model = tiny_segmenter
    model.train()
    model.zero_grad()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1)) * 255
    losses = model([image], [make_empty_target(64, 64)])
    assert all(torch.isfinite(v) for v in losses.values())
    for name, value in losses.items():
        term = name.split(".loss_")[1]
        if term in MATCHED_TERMS:
            assert value == 0, name
    assert all(losses[f"s{i}.loss_cls"] > 0 for i in range(num_prediction_sets(model)))
    sum(losses.values()).backward()


def test_predict_contract(tiny_segmenter):
    model = tiny_segmenter
    model.eval()
    generator = torch.Generator().manual_seed(2)
    images = [torch.rand(3, 100, 120, generator=generator) * 255, torch.rand(3, 128, 96, generator=generator) * 255]
    sizes = [(200, 240), (64, 48)]
    with torch.no_grad():
        results = model.predict(images, orig_sizes=sizes)
        at_input = model.predict(images)
    assert len(results) == 2
    for result, size in zip(results, sizes):
        n = len(result)
        assert isinstance(result, Instances) and result.image_size == size
        assert 0 < n <= model.max_per_img
        assert result.boxes.shape == (n, 4) and result.boxes.dtype == torch.float32
        assert torch.all(result.boxes[:, 2:] >= result.boxes[:, :2])
        assert torch.all(result.scores[:-1] >= result.scores[1:])
        assert torch.all((result.scores > 0) & (result.scores < 1))
        assert result.labels.dtype == torch.int64
        assert torch.all((result.labels >= 0) & (result.labels < model.num_classes))
        assert result.masks.dtype == torch.bool and result.masks.shape == (n,) + size
        assert result.embeds.shape == (n, model.hidden_dim)  # the query embedding the QueryTracker associates
        assert result.query_index.dtype == torch.int64
    assert [r.image_size for r in at_input] == [(100, 120), (128, 96)]  # without orig_sizes: the input sizes
    assert torch.equal(results[0].query_index, at_input[0].query_index)
    assert torch.allclose(results[0].boxes, at_input[0].boxes * 2, atol=1e-3)  # rescaled per axis, unclipped
