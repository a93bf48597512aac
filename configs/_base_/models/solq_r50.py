# SOLQ R-50, as the official configs/r50_solq_train.sh (reference_models.md §4.1): Deformable DETR with iterative
# box refinement, hidden 384, 8 heads, 6 + 6 layers, FFN 1024, 4 levels x 4 points, 300 queries, shared vector
# MLP 384 -> 1024 -> 1024 -> 256 DCT coefficients of a 128x128 mask. ResNet-50 with frozen BatchNorm, stem and
# layer1 frozen. 80 contiguous COCO labels (the official head has 91 category-id slots; SOLQ.convert_state_dict
# picks the 80 rows when an official checkpoint is loaded).
model = dict(
    type='SOLQ',
    num_classes=80,
    num_queries=300,
    backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm='frozen_bn'),
    hidden_dim=384,
    num_heads=8,
    enc_layers=6,
    dec_layers=6,
    dim_feedforward=1024,
    dropout=0.1,
    num_feature_levels=4,
    enc_n_points=4,
    dec_n_points=4,
    vector_hidden_dim=1024,
    mask_size=128,
    n_keep=256,
    loss_weights=dict(cls=2.0, bbox=5.0, giou=2.0, vector=3.0),
    match_costs=dict(cls=2.0, bbox=5.0, giou=2.0),
    focal_alpha=0.25,
    max_per_img=100,
)
