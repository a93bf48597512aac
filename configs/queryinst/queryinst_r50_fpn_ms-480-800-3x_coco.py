# QueryInst R-50-FPN, multi-scale training (short side 480..800 step 32, long side <= 1333), 36 epochs
# (mmdetection: 44.8 box AP / 39.8 mask AP).
_base_ = [
    '../_base_/models/queryinst_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/video/coco_query_tracking.py',
    '../_base_/schedules/schedule_3x.py',
]
data = dict(
    train=dict(
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoiceResize', scales=[(1333, s) for s in range(480, 801, 32)], keep_ratio=True),
        ]))
