# QueryInst R-101-FPN multi-scale 3x (mmdetection: 46.4 box AP / 41.0 mask AP).
_base_ = ['./queryinst_r50_fpn_ms-480-800-3x_coco.py']
model = dict(backbone=dict(depth=101))
