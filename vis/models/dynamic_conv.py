"""Dynamic instance interaction: each query generates the weights of a tiny 2-layer MLP that is applied
to its own RoI features (Sparse R-CNN's "dynamic instance interactive head").

Reference: mmdet ``DynamicConv`` (mmdet/models/layers/transformer/utils.py), reference_models.md §1.7.
The attribute names (``dynamic_layer``, ``norm_in``, ``norm_out``, ``fc_layer``, ``fc_norm``) are the
reference's, so official checkpoints load without renaming. Used by the QueryInst box head
(``input_feat_shape=7, with_proj=True``), the QueryInst mask head (``14, with_proj=False``) and ISTR (ELU).
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU}


class DynamicConv(nn.Module):
    """Query-conditioned 1x1 convolutions over RoI features.

    Args:
        in_channels: channels of the query and of the RoI features.
        feat_channels: hidden width of the generated MLP (64 in QueryInst).
        out_channels: output channels (defaults to ``in_channels``).
        input_feat_shape: RoI side (7 for boxes, 14 for masks) or ``(h, w)``.
        with_proj: flatten the ``h*w x out`` result and project it to one ``out`` vector per query.
        activation: 'relu' (QueryInst) or 'elu' (ISTR).
    """

    def __init__(
        self,
        in_channels: int = 256,
        feat_channels: int = 64,
        out_channels: Optional[int] = None,
        input_feat_shape: Union[int, Tuple[int, int]] = 7,
        with_proj: bool = True,
        activation: str = "relu",
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"DynamicConv activation must be one of {sorted(_ACTIVATIONS)}, got '{activation}'")
        if isinstance(input_feat_shape, int):
            input_feat_shape = (input_feat_shape, input_feat_shape)
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.out_channels = out_channels or in_channels
        self.input_feat_shape = tuple(input_feat_shape)
        self.with_proj = with_proj
        self.num_params_in = self.in_channels * self.feat_channels
        self.num_params_out = self.feat_channels * self.out_channels

        self.dynamic_layer = nn.Linear(self.in_channels, self.num_params_in + self.num_params_out)
        self.norm_in = nn.LayerNorm(self.feat_channels)
        self.norm_out = nn.LayerNorm(self.out_channels)
        self.activation = _ACTIVATIONS[activation](inplace=True)
        if with_proj:
            num_spatial = self.input_feat_shape[0] * self.input_feat_shape[1]
            self.fc_layer = nn.Linear(self.out_channels * num_spatial, self.out_channels)
            self.fc_norm = nn.LayerNorm(self.out_channels)

    def forward(self, queries: torch.Tensor, roi_feats: torch.Tensor) -> torch.Tensor:
        """queries: [B, in], roi_feats: [B, in, h, w] (B = images x queries).

        Returns [B, out] with ``with_proj``, else [B, h*w, out] (spatial index ``y*w + x`` major).
        """
        num_rois = roi_feats.shape[0]
        x = roi_feats.flatten(2).transpose(1, 2)  # [B, h*w, in]
        params = self.dynamic_layer(queries)  # [B, in*feat + feat*out]
        # The first in*feat values are W1 (row-major [in, feat]), the last feat*out are W2 ([feat, out]).
        w_in = params[:, : self.num_params_in].view(num_rois, self.in_channels, self.feat_channels)
        w_out = params[:, -self.num_params_out :].view(num_rois, self.feat_channels, self.out_channels)

        x = self.activation(self.norm_in(torch.bmm(x, w_in)))  # [B, h*w, feat]
        x = self.activation(self.norm_out(torch.bmm(x, w_out)))  # [B, h*w, out]
        if self.with_proj:
            x = x.flatten(1)  # [B, h*w*out], index s*out + c
            x = self.activation(self.fc_norm(self.fc_layer(x)))  # [B, out]
        return x
