# YouTube-VIS 2019: key/reference frame pairs for training (reference within +-100 frames, mmdet 3's
# UniformRefFrameSample), both frames resized to 640x360 keep-ratio and flipped together; test at 360p.
# classes='ytvis2019' on every split: the file's categories are checked against the official table when the
# dataset is built (another year's file under this config is a one-line error, not a silently relabelled run).
_ytvis_root = 'data/ytvis_2019/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='YTVISDataset',
        ann_file=_ytvis_root + 'train.json',
        img_dir=_ytvis_root + 'train/JPEGImages/',
        classes='ytvis2019',
        ref_frame_range=100,
        transforms=[
            dict(type='Resize', scale=(640, 360), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    test=dict(
        type='YTVISDataset',
        ann_file=_ytvis_root + 'valid.json',
        img_dir=_ytvis_root + 'valid/JPEGImages/',
        classes='ytvis2019',
        test_mode=True,
        transforms=[dict(type='Resize', scale=(640, 360), keep_ratio=True)],
    ),
)
