# OVIS (Occluded Video Instance Segmentation: 25 classes, 607 train videos, heavy occlusion, many objects per
# frame), in the official layout: annotations_<split>.json next to a <split>/ folder of video folders. Its
# frames are 720p like YouTube-VIS's, so the same pairs and 640x360 transforms as ytvis_2019.py; classes='ovis'
# checks the file's categories against the official table (names as the files spell them, 'Vehical' included).
_ovis_root = 'data/ovis/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='YTVISDataset',
        ann_file=_ovis_root + 'annotations_train.json',
        img_dir=_ovis_root + 'train/',
        classes='ovis',
        ref_frame_range=100,
        transforms=[
            dict(type='Resize', scale=(640, 360), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    test=dict(
        type='YTVISDataset',
        ann_file=_ovis_root + 'annotations_valid.json',
        img_dir=_ovis_root + 'valid/',
        classes='ovis',
        test_mode=True,
        transforms=[dict(type='Resize', scale=(640, 360), keep_ratio=True)],
    ),
)
