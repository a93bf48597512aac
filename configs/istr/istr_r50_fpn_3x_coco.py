# ISTR R-50-FPN "3x" on COCO (official ISTR-R50-3x: 270k iterations at batch 16).
# Schedule and optimizer as detectron2's SOLVER in Base-ISTR.yaml / ISTR-R50-3x.yaml: AdamW lr 2.5e-5, weight decay
# 1e-4, no backbone multiplier, full-model L2 gradient clipping at 1.0, linear warm-up over 1000 iterations from
# 0.01, lr x0.1 at 210k and 250k. Augmentation as ISTRDatasetMapper: flip, then with probability 1/2 either a
# multi-scale resize (short side 480..800 step 32, long side <= 1333) or resize short side {400, 500, 600} ->
# relative crop 0.7 x 0.7 -> the multi-scale resize. Test: short side 800, long side <= 1333.
# Needs the codec file named in _base_/models/istr_r50_fpn.py (tools/fit_mask_codec.py) and, for ImageNet
# initialisation, model.backbone.pretrained = a torchvision resnet50 state dict.
_base_ = [
    '../_base_/models/istr_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/video/coco_query_tracking.py',
    '../_base_/schedules/schedule_3x.py',
]
_ms_scales = [(1333, s) for s in range(480, 801, 32)]
data = dict(
    samples_per_gpu=2,  # x 8 GPUs = 16
    train=dict(
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoice', transforms=[
                [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
                [
                    # detectron2 ResizeShortestEdge([400, 500, 600]) has no long-side limit
                    dict(type='RandomChoiceResize', scales=[(4200, 400), (4200, 500), (4200, 600)], keep_ratio=True),
                    dict(type='RandomCrop', crop_type='relative', crop_size=(0.7, 0.7), allow_negative_crop=True),
                    dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True),
                ],
            ]),
        ]))
optimizer = dict(_delete_=True, type='AdamW', lr=2.5e-5, weight_decay=1e-4, backbone_lr_mult=1.0, clip_grad_norm=1.0)
schedule = dict(_delete_=True, max_iters=270000, milestones=[210000, 250000], gamma=0.1, warmup_iters=1000,
                warmup_factor=0.01)
