"""Deformable DETR transformer (encoder + decoder with iterative box refinement) and its sine position encoding.

Follows Deformable DETR's ``deformable_transformer.py`` as SOLQ uses it (reference_models.md §4.1), not two-stage:

- encoder layer (post-norm): ``src = LN1(src + MSDeformAttn(src + pos + level_embed, ref_grid, src))``, then
  ``src = LN2(src + FFN(src))``; the reference points of every position are its own cell centre on every level,
  in the valid (unpadded) part of each map;
- decoder layer (post-norm): ``tgt = LN2(tgt + SelfAttn(tgt + pos, tgt + pos, tgt))``,
  ``tgt = LN1(tgt + MSDeformAttn(tgt + pos, ref, memory))``, ``tgt = LN3(tgt + FFN(tgt))``;
- the queries are a learned embedding of 2 C split into ``query_pos`` (first C) and ``tgt`` (last C); the initial
  reference points are ``sigmoid(Linear(query_pos))`` (2-d); with box refinement each layer's box head predicts
  ``sigmoid(delta + inverse_sigmoid(ref))`` and the next layer's reference is that box, DETACHED.

One change of layout, not of results: the official decoder runs ``bbox_embed`` to refine the references and the
model runs it again on the same hidden states to output the boxes. Here the decoder returns the boxes it computes
(with their gradient) and refines with their detached copy, which is the same function and the same gradients.

Parameter names mirror the official module (``encoder.layers.{i}.self_attn.sampling_offsets``, ``norm1``,
``linear1``, ..., ``decoder.layers.{i}.cross_attn``, ``self_attn.in_proj_weight``, ``level_embed``,
``reference_points``), and so does the initialisation (xavier on every matrix, then the deformable attention's
own init, xavier ``reference_points`` with zero bias, N(0, 1) ``level_embed``).
"""
from __future__ import annotations

import copy
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .deformable_attention import MSDeformAttn


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``log(x / (1 - x))`` with x clamped to [0, 1] and both terms to at least ``eps`` (Deformable DETR)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class PositionEmbeddingSine(nn.Module):
    """DETR's normalised sine position encoding of a padded map (no parameters).

    For each valid cell, ``y = (cumsum of valid rows - 0.5) / (number of valid rows) * 2 pi`` (x alike); each of
    the ``num_pos_feats`` channels per axis is ``sin`` (even channel) or ``cos`` (odd) of
    ``y / temperature ** (2 floor(i / 2) / num_pos_feats)``. Output channels: y features, then x features.
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0, scale: float = 2 * math.pi):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = scale

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """mask: bool [N, H, W], True on padding -> [N, 2 * num_pos_feats, H, W]."""
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        eps = 1e-6
        y_embed = (y_embed - 0.5) / (y_embed[:, -1:, :] + eps) * self.scale
        x_embed = (x_embed - 0.5) / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)
        pos_x = x_embed[:, :, :, None] / dim_t  # [N, H, W, F]
        pos_y = y_embed[:, :, :, None] / dim_t
        # Interleave: channel 2k = sin(.. / dim_t[2k]), channel 2k + 1 = cos(.. / dim_t[2k + 1]).
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def valid_ratios(mask: torch.Tensor) -> torch.Tensor:
    """mask: bool [N, H, W] True on padding -> [N, 2]: the valid fraction (width, height) of the map."""
    _, height, width = mask.shape
    valid_h = (~mask[:, :, 0]).sum(1).float() / height
    valid_w = (~mask[:, 0, :]).sum(1).float() / width
    return torch.stack([valid_w, valid_h], -1)


class EncoderOutput(NamedTuple):
    """The encoder's memory and what the decoder needs to read it."""

    memory: torch.Tensor  # [N, S, C], levels concatenated (S = sum H_l * W_l)
    spatial_shapes: List[Tuple[int, int]]  # (H_l, W_l) per level
    valid_ratios: torch.Tensor  # [N, L, 2] (w, h) valid fraction per level
    padding_mask: torch.Tensor  # bool [N, S], True on padding

    def maps(self) -> List[torch.Tensor]:
        """The memory as per-level maps [N, C, H_l, W_l]."""
        num, _, channels = self.memory.shape
        maps, start = [], 0
        for h, w in self.spatial_shapes:
            maps.append(self.memory[:, start:start + h * w].transpose(1, 2).reshape(num, channels, h, w))
            start = start + h * w
        return maps


class DeformableTransformerEncoderLayer(nn.Module):
    def __init__(self, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: Sequence[Tuple[int, int]],
        padding_mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """src, pos: [N, S, C]; reference_points: [N, S, L, 2] -> [N, S, C]."""
        attended = self.self_attn(src + pos, reference_points, src, spatial_shapes, padding_mask)
        src = self.norm1(src + self.dropout1(attended))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class DeformableTransformerEncoder(nn.Module):
    def __init__(self, layer: DeformableTransformerEncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])

    @staticmethod
    def reference_points(
        spatial_shapes: Sequence[Tuple[int, int]], ratios: torch.Tensor, device: torch.device
    ) -> torch.Tensor:
        """Cell centres of every level, normalised by the level's VALID size, then seen from every level.

        ratios: [N, L, 2] -> [N, S, L, 2] in [0, 1] of the padded maps.
        """
        points = []
        for level, (h, w) in enumerate(spatial_shapes):
            # Cell centres 0.5, 1.5, ..., h - 0.5: the reference's linspace(0.5, h - 0.5, h), exactly (steps of 1
            # from a half are exact in float32), written with arange so that an exported graph keeps h symbolic.
            ref_y, ref_x = torch.meshgrid(
                torch.arange(h, dtype=torch.float32, device=device) + 0.5,
                torch.arange(w, dtype=torch.float32, device=device) + 0.5,
                indexing="ij",
            )
            ref_y = ref_y.reshape(-1)[None] / (ratios[:, None, level, 1] * h)  # [N, H*W]
            ref_x = ref_x.reshape(-1)[None] / (ratios[:, None, level, 0] * w)
            points.append(torch.stack((ref_x, ref_y), -1))
        # [N, S, 2] -> [N, S, 1, 2] * [N, 1, L, 2]
        return torch.cat(points, 1)[:, :, None] * ratios[:, None]

    def forward(
        self,
        src: torch.Tensor,
        spatial_shapes: Sequence[Tuple[int, int]],
        ratios: torch.Tensor,
        pos: torch.Tensor,
        padding_mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        reference_points = self.reference_points(spatial_shapes, ratios, src.device)
        output = src
        for layer in self.layers:
            output = layer(output, pos, reference_points, spatial_shapes, padding_mask)
        return output


class DeformableTransformerDecoderLayer(nn.Module):
    def __init__(self, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        # batch_first changes only the call layout; parameters and math are the official (seq-first) module's.
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(
        self,
        tgt: torch.Tensor,
        query_pos: torch.Tensor,
        reference_points: torch.Tensor,
        memory: torch.Tensor,
        spatial_shapes: Sequence[Tuple[int, int]],
        padding_mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """tgt, query_pos: [N, Q, C]; reference_points: [N, Q, L, 2 or 4]; memory: [N, S, C] -> [N, Q, C]."""
        q = k = tgt + query_pos
        tgt = self.norm2(tgt + self.dropout2(self.self_attn(q, k, tgt, need_weights=False)[0]))
        attended = self.cross_attn(tgt + query_pos, reference_points, memory, spatial_shapes, padding_mask)
        tgt = self.norm1(tgt + self.dropout1(attended))
        ffn = self.linear2(self.dropout3(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout4(ffn))


class DeformableTransformerDecoder(nn.Module):
    """Decoder layers + iterative box refinement through ``bbox_embed`` (one box MLP per layer).

    ``bbox_embed`` is attached by the model after construction (the official "hack"), so the same modules
    appear in the state dict under the model's ``bbox_embed.*`` and under ``transformer.decoder.bbox_embed.*``.
    """

    def __init__(self, layer: DeformableTransformerDecoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.bbox_embed: Optional[nn.ModuleList] = None

    def forward(
        self,
        tgt: torch.Tensor,
        reference_points: torch.Tensor,
        memory: torch.Tensor,
        spatial_shapes: Sequence[Tuple[int, int]],
        ratios: torch.Tensor,
        query_pos: torch.Tensor,
        padding_mask: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """tgt, query_pos: [N, Q, C]; reference_points: [N, Q, 2] initial (x, y) in [0, 1] of the valid image.

        Returns hidden states [num_layers, N, Q, C] and boxes [num_layers, N, Q, 4] (normalised cx, cy, w, h of
        the valid image, with gradient through each layer's box head; the references fed forward are detached).
        """
        if self.bbox_embed is None:
            raise RuntimeError("the decoder needs its bbox_embed (iterative box refinement) before it runs")
        output = tgt
        hidden, boxes = [], []
        for lid, layer in enumerate(self.layers):
            # References are relative to the valid image; the attention samples the padded maps.
            if reference_points.shape[-1] == 4:
                ref_input = reference_points[:, :, None] * torch.cat([ratios, ratios], -1)[:, None]
            else:
                ref_input = reference_points[:, :, None] * ratios[:, None]  # [N, Q, L, 2]
            output = layer(output, query_pos, ref_input, memory, spatial_shapes, padding_mask)
            delta = self.bbox_embed[lid](output)  # [N, Q, 4]
            if reference_points.shape[-1] == 4:
                unact = delta + inverse_sigmoid(reference_points)
            else:  # the initial 2-d reference only moves the centre; w, h come from the delta alone
                unact = torch.cat([delta[..., :2] + inverse_sigmoid(reference_points), delta[..., 2:]], -1)
            box = unact.sigmoid()
            hidden.append(output)
            boxes.append(box)
            reference_points = box.detach()
        return torch.stack(hidden), torch.stack(boxes)


class DeformableTransformer(nn.Module):
    """Encoder + decoder + level embeddings + the initial reference-point projection (single stage).

    Args:
        d_model: hidden width C; nhead: attention heads; num_encoder_layers / num_decoder_layers;
        dim_feedforward: FFN width; dropout; num_feature_levels: L; enc_n_points / dec_n_points: P.
    """

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        num_feature_levels: int = 4,
        enc_n_points: int = 4,
        dec_n_points: int = 4,
    ):
        super().__init__()
        self.d_model = d_model
        self.num_feature_levels = num_feature_levels
        enc_layer = DeformableTransformerEncoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, enc_n_points
        )
        self.encoder = DeformableTransformerEncoder(enc_layer, num_encoder_layers)
        dec_layer = DeformableTransformerDecoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, dec_n_points
        )
        self.decoder = DeformableTransformerDecoder(dec_layer, num_decoder_layers)
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        self.reference_points = nn.Linear(d_model, 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        for module in self.modules():
            if isinstance(module, MSDeformAttn):
                module.reset_parameters()
        nn.init.xavier_uniform_(self.reference_points.weight, gain=1.0)
        nn.init.zeros_(self.reference_points.bias)
        nn.init.normal_(self.level_embed)

    def encode(
        self, srcs: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], pos_embeds: Sequence[torch.Tensor]
    ) -> EncoderOutput:
        """srcs, pos_embeds: per level [N, C, H_l, W_l]; masks: per level bool [N, H_l, W_l] (True = padding)."""
        flat_src, flat_mask, flat_pos, shapes = [], [], [], []
        for level, (src, mask, pos) in enumerate(zip(srcs, masks, pos_embeds)):
            shapes.append((src.shape[2], src.shape[3]))  # no int(): symbolic while exporting
            flat_src.append(src.flatten(2).transpose(1, 2))  # [N, H*W, C]
            flat_mask.append(mask.flatten(1))  # [N, H*W]
            flat_pos.append(pos.flatten(2).transpose(1, 2) + self.level_embed[level].view(1, 1, -1))
        ratios = torch.stack([valid_ratios(m) for m in masks], 1)  # [N, L, 2]
        padding_mask = torch.cat(flat_mask, 1)
        memory = self.encoder(torch.cat(flat_src, 1), shapes, ratios, torch.cat(flat_pos, 1), padding_mask)
        return EncoderOutput(memory, shapes, ratios, padding_mask)

    def decode(self, query_embed: torch.Tensor, enc: EncoderOutput) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """query_embed: [Q, 2C] -> hidden states [D, N, Q, C], boxes [D, N, Q, 4], initial references [N, Q, 2]."""
        num = enc.memory.shape[0]
        query_pos, tgt = torch.split(query_embed, self.d_model, dim=1)
        query_pos = query_pos.unsqueeze(0).expand(num, -1, -1)
        tgt = tgt.unsqueeze(0).expand(num, -1, -1)
        init_reference = self.reference_points(query_pos).sigmoid()  # [N, Q, 2]
        hidden, boxes = self.decoder(
            tgt, init_reference, enc.memory, enc.spatial_shapes, enc.valid_ratios, query_pos, enc.padding_mask
        )
        return hidden, boxes, init_reference
