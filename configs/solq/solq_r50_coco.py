# SOLQ R-50 on COCO, 50 epochs (paper / official README: 39.7 mask AP on COCO test-dev).
# Train augmentation as the official datasets/coco.py (R-50 scales): horizontal flip, then either a multi-scale
# resize (short side 480..800 step 32, long side <= 1333) or DETR's crop branch (short side {400, 500, 600},
# random crop with sides in [384, 600], multi-scale resize). Test: short side 800, long side <= 1333.
# Every resize uses DETR's size rule (size_rule='detr': the long side is truncated, 640x480 -> 1066x800, where mmdet
# and detectron2 round to 1067x800), and the model pads a batch only to its largest image (SOLQ size_divisibility=1,
# with the padding mask), as the official datasets/transforms.py and util/misc.py do.
# 4 images per GPU on 8 GPUs. ImageNet weights: set model.backbone.pretrained to a local torchvision resnet50
# state dict, e.g. --cfg-options model.backbone.pretrained=checkpoints/resnet50-0676ba61.pth
_base_ = [
    '../_base_/models/solq_r50.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/video/coco_query_tracking.py',
    '../_base_/schedules/schedule_solq_50e.py',
]
_ms_scales = [(1333, s) for s in range(480, 801, 32)]
data = dict(
    samples_per_gpu=4,
    train=dict(
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoice', transforms=[
                [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True, size_rule='detr')],
                [
                    # DETR's RandomResize([400, 500, 600]) has no long-side limit.
                    dict(type='RandomChoiceResize', scales=[(4200, 400), (4200, 500), (4200, 600)], keep_ratio=True,
                         size_rule='detr'),
                    dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
                    dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True, size_rule='detr'),
                ],
            ]),
        ]),
    val=dict(transforms=[dict(type='Resize', scale=(1333, 800), keep_ratio=True, size_rule='detr')]),
)
