"""Multi-scale deformable attention (Deformable DETR), in pure PyTorch.

Each query attends to a few sampled points instead of the whole feature map: per head ``m``, level ``l`` and
point ``p`` it predicts an offset from its reference point and an attention weight; the value map of level
``l`` is sampled bilinearly at ``reference + offset`` and the samples are summed with the weights (softmax over
the ``L * P`` samples of the head). Heads are concatenated and projected.

Fidelity to the official ``MSDeformAttn`` (Deformable DETR / SOLQ ``models/ops/modules/ms_deform_attn.py``):

- the same four linear layers and names (``sampling_offsets``, ``attention_weights``, ``value_proj``,
  ``output_proj``), output channels ordered head-major, and the same initialisation (zero offset weights with
  the bias set to a ring of directions ``(cos, sin)`` of ``2 pi m / M`` scaled to the unit square and by
  ``p + 1`` for point ``p``; zero attention weights and bias; xavier value/output projections, zero biases);
- sampling locations are normalised to [0, 1] of the (padded) map, (0, 0) the top-left corner of the first
  cell. 2-d reference points: ``loc = ref + offset / (W_l, H_l)``; 4-d reference boxes (cx, cy, w, h):
  ``loc = ref_xy + offset / P * ref_wh * 0.5``;
- the CUDA kernel's bilinear rule: pixel coordinate ``loc * size - 0.5`` with zeros outside the map, which is
  ``F.grid_sample(align_corners=False, padding_mode='zeros')`` on ``2 * loc - 1``;
- padded positions of the input have their values set to 0 before sampling.

No compiled op: the sampling is one ``embedding_bag`` over the four bilinear corners of every sample (CPU, CUDA),
and an ONNX export traces the official pure-PyTorch formulation with ``grid_sample``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

SpatialShapes = Union[torch.Tensor, Sequence[Tuple[int, int]]]


def _as_shape_list(spatial_shapes: SpatialShapes) -> List[Tuple[int, int]]:
    """[(H_l, W_l)] (a [L, 2] tensor is accepted, as the official module takes). The sizes of a list are kept as
    they are, not cast with ``int()``: while exporting they are symbolic, and a cast would freeze them."""
    if isinstance(spatial_shapes, torch.Tensor):
        return [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    return [(h, w) for h, w in spatial_shapes]


def multi_scale_deformable_attention(
    value: torch.Tensor,
    spatial_shapes: SpatialShapes,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """The core sampling + weighted sum (what the official CUDA op computes).

    value: [N, S, M, D] with S = sum_l H_l * W_l, levels concatenated row-major (finest first);
    spatial_shapes: [(H_l, W_l)] per level; sampling_locations: [N, Q, M, L, P, 2] as (x, y) in [0, 1];
    attention_weights: [N, Q, M, L, P] (already normalised) -> [N, Q, M * D].

    Every output row is a weighted sum of L * P * 4 rows of the value table (the four bilinear corners of each
    sample, each corner's weight its bilinear weight times the sample's attention weight): one
    ``F.embedding_bag(mode='sum', per_sample_weights=...)`` computes all of them, levels and points together,
    without materialising the gathered rows. ONNX has no such operator, so an export traces
    `grid_sample_deformable_attention` instead (ONNX Runtime runs GridSample natively).
    """
    if torch.onnx.is_in_onnx_export():
        return grid_sample_deformable_attention(value, spatial_shapes, sampling_locations, attention_weights)
    shapes = _as_shape_list(spatial_shapes)
    num, length, heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    if len(shapes) != num_levels:
        raise ValueError(f"{len(shapes)} spatial shapes for {num_levels} sampling levels")
    device = value.device
    heights = torch.tensor([h for h, _ in shapes], device=device).view(num_levels, 1)  # [L, 1]: broadcasts over P
    widths = torch.tensor([w for _, w in shapes], device=device).view(num_levels, 1)
    level_starts = torch.tensor([0] + [h * w for h, w in shapes[:-1]], device=device).cumsum(0).view(num_levels, 1)
    # Pixel coordinates (cell centres at integers) by grid_sample's own arithmetic on 2 * loc - 1, so a sample on a
    # cell boundary (the official initialisation puts them there) falls on the same side, and the derivative of
    # the bilinear weights, one-sided there, is the same.
    grid = 2 * sampling_locations - 1
    x = ((grid[..., 0] + 1) * widths.to(grid.dtype) - 1) / 2  # [N, Q, M, L, P]
    y = ((grid[..., 1] + 1) * heights.to(grid.dtype) - 1) / 2
    x_floor, y_floor = x.floor(), y.floor()
    fx, fy = x - x_floor, y - y_floor
    x0, y0 = x_floor.long(), y_floor.long()
    # Bilinear weights of the left / right column and the top / bottom row, zero where it lies off the map (the
    # kernel's zero padding); the rows' weights carry the attention weight.
    left = (1 - fx) * ((x0 >= 0) & (x0 < widths))
    right = fx * ((x0 >= -1) & (x0 < widths - 1))
    top = attention_weights * (1 - fy) * ((y0 >= 0) & (y0 < heights))
    bottom = attention_weights * fy * ((y0 >= -1) & (y0 < heights - 1))
    # Row of the top-left corner in the value table [N * M * S, D] (image-major, then head, then position).
    first_rows = (torch.arange(num, device=device).view(num, 1, 1, 1, 1) * heads
                  + torch.arange(heads, device=device).view(heads, 1, 1)) * length + level_starts  # [N, 1, M, L, 1]
    top_left = first_rows + y0 * widths + x0  # [N, Q, M, L, P]
    below = top_left + widths
    # [N, Q, M, 4, L, P]: the corners (top-left, top-right, bottom-left, bottom-right) of each bag's L * P samples,
    # stacked in runs of L * P; off-map corners (weight 0) are clamped to any valid row.
    rows = torch.stack([top_left, top_left + 1, below, below + 1], 3).clamp_(0, num * heads * length - 1)
    weights = torch.stack([top * left, top * right, bottom * left, bottom * right], 3)
    table = value.permute(0, 2, 1, 3).reshape(num * heads * length, head_dim)  # [N*M*S, D]
    samples = num_levels * num_points * 4
    output = F.embedding_bag(rows.view(-1, samples), table, mode="sum",
                             per_sample_weights=weights.view(-1, samples).to(table.dtype))  # [N*Q*M, D]
    return output.view(num, num_queries, heads * head_dim)


def grid_sample_deformable_attention(
    value: torch.Tensor,
    spatial_shapes: SpatialShapes,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """`multi_scale_deformable_attention` with one ``F.grid_sample`` per level, as the official pure-PyTorch path
    (``ms_deform_attn_core_pytorch``) computes it: what ONNX exports, and the reference the fast path is tested
    against. The same arguments and result."""
    shapes = _as_shape_list(spatial_shapes)
    num, _, heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    if len(shapes) != num_levels:
        raise ValueError(f"{len(shapes)} spatial shapes for {num_levels} sampling levels")
    grids = 2 * sampling_locations - 1  # grid_sample's frame: -1 / +1 are the outer edges of the border cells
    output = value.new_zeros((num * heads, head_dim, num_queries))
    start = 0
    for level, (h, w) in enumerate(shapes):
        # [N, H*W, M, D] -> [N*M, D, H, W]
        level_value = value[:, start:start + h * w].permute(0, 2, 3, 1).reshape(num * heads, head_dim, h, w)
        start = start + h * w
        # [N, Q, M, P, 2] -> [N, M, Q, P, 2] -> [N*M, Q, P, 2]
        grid = grids[:, :, :, level].transpose(1, 2).reshape(num * heads, num_queries, num_points, 2)
        sampled = F.grid_sample(level_value, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # sampled: [N*M, D, Q, P]; weights of this level: [N, Q, M, P] -> [N*M, 1, Q, P]
        weights = attention_weights[:, :, :, level].transpose(1, 2).reshape(num * heads, 1, num_queries, num_points)
        output = output + (sampled * weights).sum(-1)
    # [N*M, D, Q] -> [N, M*D, Q] -> [N, Q, M*D]
    return output.view(num, heads * head_dim, num_queries).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with the official module's parameters.

    Args:
        d_model: channels C of queries and values (must be divisible by n_heads).
        n_levels: feature levels L.
        n_heads: attention heads M.
        n_points: sampling points P per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model must be divisible by n_heads, got {d_model} and {n_heads}")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official init: offsets start on a ring of M directions (point p at distance p + 1 cells), every
        sample weighted equally, xavier projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([thetas.cos(), thetas.sin()], -1)  # [M, 2]
        # Scale each direction so its larger component is +-1 (a point of the unit square's border).
        directions = directions / directions.abs().max(-1, keepdim=True)[0]
        grid = directions.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)  # [M, L, P, 2]
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def sampling(
        self, query: torch.Tensor, reference_points: torch.Tensor, spatial_shapes: SpatialShapes
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """query: [N, Q, C]; reference_points: [N, Q, L, 2] (x, y) or [N, Q, L, 4] (cx, cy, w, h) in [0, 1]
        -> sampling locations [N, Q, M, L, P, 2] and attention weights [N, Q, M, L, P]."""
        num, num_queries, _ = query.shape
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        offsets = self.sampling_offsets(query).view(num, num_queries, heads, levels, points, 2)
        weights = self.attention_weights(query).view(num, num_queries, heads, levels * points)
        weights = F.softmax(weights, -1).view(num, num_queries, heads, levels, points)
        if reference_points.shape[-1] == 2:
            shapes = _as_shape_list(spatial_shapes)
            # Offsets are in cells of each level: divide by (W_l, H_l) (a stack, not new_tensor: sizes may be
            # symbolic while exporting).
            one = query.new_ones(())
            normalizer = torch.stack([torch.stack([one * w, one * h]) for h, w in shapes])  # [L, 2]
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            # Offsets are relative to the reference box: P points span half its size.
            locations = (
                reference_points[:, :, None, :, None, :2]
                + offsets / points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        else:
            raise ValueError(f"reference_points must end in 2 or 4 values, got {reference_points.shape[-1]}")
        return locations, weights

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        spatial_shapes: SpatialShapes,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """query: [N, Q, C]; reference_points: [N, Q, L, 2 or 4] in [0, 1] of the padded maps;
        input_flatten: [N, S, C] (levels concatenated, S = sum H_l * W_l); spatial_shapes: [(H_l, W_l)];
        padding_mask: [N, S] True on padding -> [N, Q, C]."""
        num, length, _ = input_flatten.shape
        shapes = _as_shape_list(spatial_shapes)
        if sum(h * w for h, w in shapes) != length:
            raise ValueError(f"spatial shapes {shapes} do not add up to the {length} input positions")
        value = self.value_proj(input_flatten)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(num, length, self.n_heads, self.d_model // self.n_heads)  # [N, S, M, D]
        locations, weights = self.sampling(query, reference_points, shapes)
        return self.output_proj(multi_scale_deformable_attention(value, shapes, locations, weights))
