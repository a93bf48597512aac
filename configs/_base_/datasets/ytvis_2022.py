# YouTube-VIS 2022: no new training data (train is the 2021 train set, read from data/ytvis_2021/), and a valid
# set of the same 40 classes with long videos added, which the leaderboard scores separately from the short ones;
# test_vis writes one submission for the whole valid file. Transforms as ytvis_2019.py.
_base_ = './ytvis_2021.py'
_test_root = 'data/ytvis_2022/'
data = dict(
    train=dict(classes='ytvis2022'),
    test=dict(ann_file=_test_root + 'valid/instances.json', img_dir=_test_root + 'valid/JPEGImages/',
              classes='ytvis2022'),
)
