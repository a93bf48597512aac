# YouTube-VIS 2021 (40 classes, 2,985 train videos), in the official release's layout: every split is a folder
# with instances.json and JPEGImages/. The same pairs and 360p transforms as ytvis_2019.py; classes='ytvis2021'
# checks the file's categories against the official table when the dataset is built.
_base_ = './ytvis_2019.py'
_ytvis_root = 'data/ytvis_2021/'
data = dict(
    train=dict(ann_file=_ytvis_root + 'train/instances.json', img_dir=_ytvis_root + 'train/JPEGImages/',
               classes='ytvis2021'),
    test=dict(ann_file=_ytvis_root + 'valid/instances.json', img_dir=_ytvis_root + 'valid/JPEGImages/',
              classes='ytvis2021'),
)
