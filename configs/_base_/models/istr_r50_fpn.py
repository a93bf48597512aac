# ISTR R-50-FPN, the paper version ISTR-v1 (hujiecpp/ISTR 02279fc, configs/ISTR-R50-3x.yaml; reference_models.md §3):
# 300 proposals, 6 stages, ELU heads with 3 cls / 3 reg / 3 mask layers, 60-d PCA mask embedding of 28x28 masks.
# detectron2 backbone defaults: stem + res2 frozen, FrozenBN everywhere (no BN statistic or affine is trained).
# mask_codec is read by init_weights() when training from scratch; checkpoints carry it (mask_encoding.*).
# Make it with:
#   python tools/fit_mask_codec.py data/coco/annotations/instances_train2017.json --out work/codecs/coco_pca60.pth
# (the reference's own LME/coco_2017_train_class_agnosticTrue_whitenTrue_sigmoidTrue_60_siz28.npz also loads).
model = dict(
    type='ISTR',
    num_classes=80,
    num_proposals=300,
    num_stages=6,
    backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm='frozen_bn'),
    hidden_dim=256,
    num_heads=8,
    feedforward_channels=2048,
    dynamic_channels=64,
    num_cls_fcs=3,
    num_reg_fcs=3,
    num_mask_fcs=3,
    roi_size=7,
    mask_dim=60,
    mask_size=28,
    mask_codec='work/codecs/coco_pca60.pth',
    loss_weights=dict(cls=2.0, bbox=5.0, giou=2.0, feat=2.0, dice=2.0),
    match_costs=dict(cls=2.0, bbox=5.0, giou=2.0, mask=2.0),
    max_per_img=100,
    mask_threshold=0.5,
)
