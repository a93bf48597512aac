# COCO 2017 instance segmentation, mmdetection's coco_instance.py pipeline:
# train: resize keep-ratio to (1333, 800) + horizontal flip; test: resize (1333, 800). Batch 2 per GPU.
_data_root = 'data/coco/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='CocoDataset',
        ann_file=_data_root + 'annotations/instances_train2017.json',
        img_dir=_data_root + 'train2017/',
        transforms=[
            dict(type='Resize', scale=(1333, 800), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    val=dict(
        type='CocoDataset',
        ann_file=_data_root + 'annotations/instances_val2017.json',
        img_dir=_data_root + 'val2017/',
        test_mode=True,
        transforms=[dict(type='Resize', scale=(1333, 800), keep_ratio=True)],
    ),
)
