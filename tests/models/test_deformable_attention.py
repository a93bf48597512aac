"""Pure-PyTorch multi-scale deformable attention against a slow hand computation, plus the module's
parameters, initialisation and sampling-location rules (official MSDeformAttn)."""
import math

import pytest
import torch

from vis.models.deformable_attention import (MSDeformAttn, grid_sample_deformable_attention,
                                              multi_scale_deformable_attention)


def bilinear_by_hand(image, x, y):
    """image: [H, W, D]; (x, y) in pixel coordinates where pixel (i, j) has its centre at (j, i).
    Four neighbours weighted by distance; neighbours outside the image contribute zero."""
    height, width, depth = image.shape
    x0, y0 = math.floor(x), math.floor(y)
    total = torch.zeros(depth, dtype=image.dtype)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * image[yy, xx]
    return total


def attention_by_hand(value, shapes, locations, weights):
    """The definition, one sample at a time. value [N, S, M, D]; locations [N, Q, M, L, P, 2] (x, y) in [0, 1]
    of each map; weights [N, Q, M, L, P] -> [N, Q, M * D]."""
    num, _, heads, depth = value.shape
    _, queries, _, levels, points, _ = locations.shape
    out = torch.zeros(num, queries, heads * depth, dtype=value.dtype)
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    for n in range(num):
        for q in range(queries):
            for m in range(heads):
                acc = torch.zeros(depth, dtype=value.dtype)
                for l, (h, w) in enumerate(shapes):
                    image = value[n, starts[l]:starts[l + 1], m].reshape(h, w, depth)
                    for p in range(points):
                        x = float(locations[n, q, m, l, p, 0]) * w - 0.5  # CUDA kernel: loc * size - 0.5
                        y = float(locations[n, q, m, l, p, 1]) * h - 0.5
                        acc += weights[n, q, m, l, p] * bilinear_by_hand(image, x, y)
                out[n, q, m * depth:(m + 1) * depth] = acc
    return out


def test_core_matches_hand_bilinear_sampling():
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (2, 5), (1, 1)]
    num, heads, depth, queries, points = 2, 2, 3, 4, 2
    value = torch.randn(num, sum(h * w for h, w in shapes), heads, depth, generator=g, dtype=torch.float64)
    # Locations partly outside [0, 1] (zeros there) and exactly on cell centres / borders.
    locations = torch.rand(num, queries, heads, len(shapes), points, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2
    locations[0, 0, 0, 0, 0] = torch.tensor([0.125, 1 / 6], dtype=torch.float64)  # centre of cell (0, 0)
    locations[0, 0, 0, 0, 1] = torch.tensor([1.0, 1.0], dtype=torch.float64)  # bottom-right corner
    weights = torch.rand(num, queries, heads, len(shapes), points, generator=g, dtype=torch.float64)
    out = multi_scale_deformable_attention(value, shapes, locations, weights)
    assert out.shape == (num, queries, heads * depth)
    expected = attention_by_hand(value, shapes, locations, weights)
    assert torch.allclose(out, expected, atol=1e-10)
    # The spatial shapes may also come as the official [L, 2] long tensor.
    assert torch.equal(multi_scale_deformable_attention(value, torch.tensor(shapes), locations, weights), out)


def test_single_sample_at_a_cell_centre_returns_that_cell():
    value = torch.arange(12, dtype=torch.float64).view(1, 12, 1, 1)  # one 3x4 level, one head, one channel
    locations = torch.tensor([(1 + 0.5) / 4, (2 + 0.5) / 3], dtype=torch.float64).view(1, 1, 1, 1, 1, 2)
    out = multi_scale_deformable_attention(value, [(3, 4)], locations, torch.ones(1, 1, 1, 1, 1, dtype=torch.float64))
    assert out.item() == 2 * 4 + 1  # row 2, column 1


def test_module_parameters_and_official_init():
    attn = MSDeformAttn(d_model=384, n_levels=4, n_heads=8, n_points=4)
    shapes = {n: tuple(p.shape) for n, p in attn.named_parameters()}
    assert shapes == {
        "sampling_offsets.weight": (256, 384), "sampling_offsets.bias": (256,),
        "attention_weights.weight": (128, 384), "attention_weights.bias": (128,),
        "value_proj.weight": (384, 384), "value_proj.bias": (384,),
        "output_proj.weight": (384, 384), "output_proj.bias": (384,),
    }
    assert torch.all(attn.sampling_offsets.weight == 0)
    bias = attn.sampling_offsets.bias.view(8, 4, 4, 2)  # [head, level, point, (x, y)]
    # Head m points along angle 2 pi m / 8, scaled so the larger component is 1, times (point + 1).
    assert torch.allclose(bias[0, 0, :, 0], torch.tensor([1.0, 2, 3, 4]))
    assert torch.allclose(bias[0, 0, :, 1], torch.zeros(4), atol=1e-6)
    assert torch.allclose(bias[1, 2, 1], torch.tensor([2.0, 2.0]))  # 45 degrees, point 1
    assert torch.allclose(bias[6, 3, 0], torch.tensor([0.0, -1.0]), atol=1e-6)  # 270 degrees
    assert torch.equal(bias[:, 0], bias[:, 3])  # the same for every level
    assert torch.all(attn.attention_weights.weight == 0) and torch.all(attn.attention_weights.bias == 0)
    assert torch.all(attn.value_proj.bias == 0) and torch.all(attn.output_proj.bias == 0)
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(d_model=30, n_heads=8)


def test_sampling_locations_for_points_and_boxes():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=2, n_points=3)
    query = torch.randn(2, 5, 16)
    shapes = [(4, 6), (2, 3)]
    offsets = attn.sampling_offsets(query).view(2, 5, 2, 2, 3, 2)
    ref2 = torch.rand(2, 5, 2, 2)
    loc, weights = attn.sampling(query, ref2, shapes)
    assert loc.shape == (2, 5, 2, 2, 3, 2) and weights.shape == (2, 5, 2, 2, 3)
    # 2-d references: offsets in cells of each level, divided by (W_l, H_l).
    assert torch.allclose(loc[1, 3, 0, 1, 2], ref2[1, 3, 1] + offsets[1, 3, 0, 1, 2] / torch.tensor([3.0, 2.0]))
    # Softmax over the L * P samples of each head.
    assert torch.allclose(weights.sum((-1, -2)), torch.ones(2, 5, 2))
    # 4-d references (cx, cy, w, h): offset / P * wh / 2.
    ref4 = torch.rand(2, 5, 2, 4)
    loc4, _ = attn.sampling(query, ref4, shapes)
    assert torch.allclose(loc4[0, 1, 1, 0, 0], ref4[0, 1, 0, :2] + offsets[0, 1, 1, 0, 0] / 3 * ref4[0, 1, 0, 2:] * 0.5)
    # At init all weights are equal.
    fresh = MSDeformAttn(d_model=16, n_levels=2, n_heads=2, n_points=3)
    _, w0 = fresh.sampling(query, ref2, shapes)
    assert torch.allclose(w0, torch.full_like(w0, 1 / 6))


def test_forward_shapes_padding_and_gradients():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2)
    shapes = [(6, 8), (3, 4)]
    inputs = torch.randn(2, 60, 16, requires_grad=True)
    query = torch.randn(2, 7, 16)
    ref = torch.rand(2, 7, 2, 2)
    out = attn(query, ref, inputs, shapes)
    assert out.shape == (2, 7, 16)
    out.square().sum().backward()
    assert inputs.grad.abs().sum() > 0
    # The sampling offsets get a gradient through the bilinear sampling (grid_sample's grid gradient).
    assert attn.sampling_offsets.weight.grad.abs().sum() > 0 and attn.attention_weights.weight.grad.abs().sum() > 0
    # Every input position padded: the values are zeroed, only the output bias is left.
    with torch.no_grad():
        attn.output_proj.bias.fill_(0.5)
        masked = attn(query, ref, inputs, shapes, padding_mask=torch.ones(2, 60, dtype=torch.bool))
    assert torch.allclose(masked, torch.full_like(masked, 0.5))
    with pytest.raises(ValueError, match="add up"):
        attn(query, ref, inputs, [(6, 8), (2, 2)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_matches_cpu():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=32, n_levels=3, n_heads=4, n_points=4)
    shapes = [(10, 12), (5, 6), (3, 3)]
    inputs = torch.randn(2, 159, 32)
    query, ref = torch.randn(2, 11, 32), torch.rand(2, 11, 3, 2)
    with torch.no_grad():
        attn.sampling_offsets.weight.normal_(0, 0.1)
        cpu = attn(query, ref, inputs, shapes)
        gpu = attn.cuda()(query.cuda(), ref.cuda(), inputs.cuda(), shapes).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)


def _grid_sample_module_output(module, query, reference_points, value_input, shapes, padding_mask):
    """MSDeformAttn.forward with the sampling done by the official grid_sample formulation."""
    num, length, _ = value_input.shape
    value = module.value_proj(value_input)
    if padding_mask is not None:
        value = value.masked_fill(padding_mask[..., None], 0.0)
    value = value.view(num, length, module.n_heads, module.d_model // module.n_heads)
    locations, weights = module.sampling(query, reference_points, shapes)
    return module.output_proj(grid_sample_deformable_attention(value, shapes, locations, weights))


@pytest.mark.parametrize("reference_dims", [2, 4])
@pytest.mark.parametrize("autocast", [False, True])
def test_embedding_bag_sampling_equals_the_grid_sample_formulation(reference_dims, autocast):
    """The one-call sampling (embedding_bag over the bilinear corners) against the official pure-PyTorch path
    (one grid_sample per level): every level, samples inside, on the border and outside the maps, a padded image,
    point and box references, float32 and bfloat16 autocast; outputs and the gradients of every input agree."""
    generator = torch.Generator().manual_seed(3)
    shapes = [(9, 13), (5, 7), (3, 4), (1, 2)]
    length = sum(h * w for h, w in shapes)
    module = MSDeformAttn(d_model=32, n_levels=4, n_heads=4, n_points=3)
    with torch.no_grad():  # offsets large enough to leave the maps, weights away from uniform
        module.sampling_offsets.weight.normal_(0, 2.0, generator=generator)
        module.attention_weights.weight.normal_(0, 1.0, generator=generator)
    query = torch.randn(2, 11, 32, generator=generator)
    value_input = torch.randn(2, length, 32, generator=generator)
    reference = torch.rand(2, 11, 4, reference_dims, generator=generator) * 1.2 - 0.1
    padding_mask = torch.zeros(2, length, dtype=torch.bool)
    padding_mask[1, :40] = True  # the second image is padded
    results = []
    for path in ("embedding_bag", "grid_sample"):
        inputs = [t.clone().requires_grad_() for t in (query, value_input, reference)]
        module.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            if path == "embedding_bag":
                output = module(inputs[0], inputs[2], inputs[1], shapes, padding_mask)
            else:
                output = _grid_sample_module_output(module, inputs[0], inputs[2], inputs[1], shapes, padding_mask)
        output.float().square().sum().backward()
        results.append([output.float()] + [t.grad for t in inputs] + [module.sampling_offsets.weight.grad.clone()])
    for name, ours, theirs in zip(("output", "query grad", "value grad", "reference grad", "offset grad"), *results):
        if autocast:
            # In bfloat16 (8 bits of mantissa) both paths are far from float32 (gradients by more than their own
            # size), but close to each other: up to 0.9% apart in norm over several seeds.
            assert (ours - theirs).norm() <= 0.03 * theirs.norm(), name
        else:  # the two orders of summation differ in the last bits
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5, msg=name)


def test_benchmark_alternates_the_two_formulations_and_restores_the_fast_one():
    from pipelines.benchmark_deformable import benchmark_deformable
    from vis.models import deformable_attention

    fast = deformable_attention.multi_scale_deformable_attention
    report = benchmark_deformable("configs/shapes/solq_tiny_shapes.py", (48, 64), threads=1, rounds=1,
                                  on_figure=lambda *figure: None)
    assert report["embedding_bag_ms"] > 0 and report["grid_sample_ms"] > 0 and report["same_labels"]
    assert report["max_score_diff"] < 1e-4 and report["max_box_diff_px"] < 0.01
    assert deformable_attention.multi_scale_deformable_attention is fast
