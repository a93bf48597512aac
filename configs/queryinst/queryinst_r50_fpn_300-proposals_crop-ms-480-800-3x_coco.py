# QueryInst R-50-FPN with 300 proposals and DETR-style crop augmentation, 36 epochs
# (mmdetection: 47.5 box AP / 41.7 mask AP).
_base_ = ['./queryinst_r50_fpn_ms-480-800-3x_coco.py']
_ms_scales = [(1333, s) for s in range(480, 801, 32)]
model = dict(num_proposals=300, max_per_img=300)
data = dict(
    train=dict(
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoice', transforms=[
                [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
                [
                    dict(type='RandomChoiceResize', scales=[(4200, 400), (4200, 500), (4200, 600)], keep_ratio=True),
                    dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
                    dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True),
                ],
            ]),
        ]))
