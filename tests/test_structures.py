import numpy as np
import pytest
import torch

from vis.structures import ImageBatch, Instances


def make_instances(n=4, size=(20, 30)):
    return Instances(
        size,
        boxes=torch.arange(n * 4, dtype=torch.float32).view(n, 4),
        scores=torch.linspace(0.1, 0.9, n),
        labels=torch.arange(n),
        masks=torch.zeros(n, *size, dtype=torch.bool),
        names=[f"obj{i}" for i in range(n)],
    )


def test_fields_and_length():
    inst = make_instances()
    assert len(inst) == 4
    assert inst.image_size == (20, 30)
    assert inst.has("boxes") and not inst.has("track_ids")
    with pytest.raises(ValueError):
        inst.track_ids = torch.zeros(3)  # wrong length
    with pytest.raises(AttributeError):
        _ = inst.track_ids


def test_indexing_keeps_all_fields_aligned():
    inst = make_instances()
    keep = inst.scores > 0.4
    sub = inst[keep]
    assert len(sub) == int(keep.sum())
    assert torch.equal(sub.labels, inst.labels[keep])
    assert sub.names == [n for n, k in zip(inst.names, keep.tolist()) if k]
    one = inst[-1]
    assert len(one) == 1 and one.labels.item() == 3 and one.names == ["obj3"]
    order = inst[torch.tensor([2, 0])]
    assert order.names == ["obj2", "obj0"] and order.labels.tolist() == [2, 0]


def test_cat_and_to():
    a, b = make_instances(2), make_instances(3)
    c = Instances.cat([a, b])
    assert len(c) == 5 and c.masks.shape == (5, 20, 30) and len(c.names) == 5
    assert c.to("cpu").boxes.dtype == torch.float32
    with pytest.raises(ValueError):
        Instances.cat([a, make_instances(1, size=(5, 5))])


def test_empty_instances():
    inst = Instances((10, 10))
    assert len(inst) == 0
    inst.scores = torch.zeros(0)
    assert len(inst[inst.scores > 0.5]) == 0


def test_image_batch_pads_to_multiple_and_remembers_sizes():
    images = [torch.ones(3, 50, 70), torch.ones(3, 64, 33)]
    batch = ImageBatch.from_tensors(images, size_divisibility=32)
    assert batch.tensor.shape == (2, 3, 64, 96)
    assert batch.image_sizes == [(50, 70), (64, 33)]
    assert batch.tensor[0, :, 50:, :].abs().sum() == 0 and batch.tensor[1, :, :, 33:].abs().sum() == 0
    valid = batch.valid_mask()
    assert valid[0].sum() == 50 * 70 and valid[1].sum() == 64 * 33
    assert np.isclose(batch.tensor[0, :, :50, :70].mean().item(), 1.0)


def test_numpy_fields_index_with_tensors():
    inst = Instances((4, 4), scores=torch.tensor([0.1, 0.9]), ids=np.array([7, 8]))
    one = inst[torch.tensor([1])]
    assert one.ids.shape == (1,) and one.ids[0] == 8
    kept = inst[inst.scores > 0.5]
    assert kept.ids.tolist() == [8]


def test_pickle_and_deepcopy_round_trip():
    """DataLoader workers, all_gather_object and caches pickle Instances; unpickling used to recurse forever."""
    import copy
    import pickle

    inst = Instances((4, 5), boxes=torch.rand(3, 4), labels=torch.tensor([0, 2, 1]), names=["a", "b", "c"])
    for clone in (pickle.loads(pickle.dumps(inst)), copy.deepcopy(inst)):
        assert clone.image_size == (4, 5)
        assert torch.equal(clone.boxes, inst.boxes) and clone.names == ["a", "b", "c"]
        with pytest.raises(AttributeError, match="no field 'scores'"):
            clone.scores
