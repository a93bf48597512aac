# QueryInst R-50-FPN 1x on COCO (mmdetection: 42.0 box AP / 37.5 mask AP).
# ImageNet weights: set model.backbone.pretrained to a local torchvision resnet50 state dict, e.g.
#   --cfg-options model.backbone.pretrained=checkpoints/resnet50-0676ba61.pth
_base_ = [
    '../_base_/models/queryinst_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/video/coco_query_tracking.py',
    '../_base_/schedules/schedule_1x.py',
]
