# YouTube-VIS 2021 (40 classes, 2,985 train videos), in the official release's layout: every split is a folder
# with instances.json and JPEGImages/. The same pairs and 360p transforms as ytvis_2019.py; classes='ytvis2021'
# checks the file's categories against the official table when the dataset is built.
_ytvis_root = 'data/ytvis_2021/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='YTVISDataset',
        ann_file=_ytvis_root + 'train/instances.json',
        img_dir=_ytvis_root + 'train/JPEGImages/',
        classes='ytvis2021',
        ref_frame_range=100,
        transforms=[
            dict(type='Resize', scale=(640, 360), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    test=dict(
        type='YTVISDataset',
        ann_file=_ytvis_root + 'valid/instances.json',
        img_dir=_ytvis_root + 'valid/JPEGImages/',
        classes='ytvis2021',
        test_mode=True,
        transforms=[dict(type='Resize', scale=(640, 360), keep_ratio=True)],
    ),
)
