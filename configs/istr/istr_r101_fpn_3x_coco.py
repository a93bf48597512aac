# ISTR R-101-FPN "3x" on COCO (official ISTR-R101-3x: 48.1 box AP / 39.9 mask AP on test-dev); the R-50 recipe with
# a ResNet-101 (the release started it from a torchvision ImageNet ResNet-101 converted to detectron2's layout).
_base_ = ['./istr_r50_fpn_3x_coco.py']
model = dict(backbone=dict(depth=101))
