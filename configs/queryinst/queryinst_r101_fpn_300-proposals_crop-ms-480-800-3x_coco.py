# QueryInst R-101-FPN, 300 proposals, DETR-style crop + multi-scale training, 36 epochs
# (mmdetection: 49.0 box AP / 42.9 mask AP).
_base_ = ['./queryinst_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py']
model = dict(backbone=dict(depth=101))
