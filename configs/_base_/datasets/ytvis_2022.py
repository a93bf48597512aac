# YouTube-VIS 2022: no new training data (train is the 2021 train set, read from data/ytvis_2021/), and a valid
# set of the same 40 classes with long videos added, which the leaderboard scores separately from the short ones;
# test_vis writes one submission for the whole valid file. Transforms as ytvis_2019.py.
_train_root = 'data/ytvis_2021/'
_test_root = 'data/ytvis_2022/'
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type='YTVISDataset',
        ann_file=_train_root + 'train/instances.json',
        img_dir=_train_root + 'train/JPEGImages/',
        classes='ytvis2022',
        ref_frame_range=100,
        transforms=[
            dict(type='Resize', scale=(640, 360), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    test=dict(
        type='YTVISDataset',
        ann_file=_test_root + 'valid/instances.json',
        img_dir=_test_root + 'valid/JPEGImages/',
        classes='ytvis2022',
        test_mode=True,
        transforms=[dict(type='Resize', scale=(640, 360), keep_ratio=True)],
    ),
)
