# SOLQ R-101 exactly as released (megvii-research/SOLQ "Main Results": 48.7 box AP / 40.9 mask AP on COCO test-dev):
# configs/solq/solq_r50_91slots_coco.py with a ResNet-101 (the release's --backbone resnet101).
_base_ = ['./solq_r50_91slots_coco.py']
model = dict(backbone=dict(depth=101))
