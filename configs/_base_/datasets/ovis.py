# OVIS (Occluded Video Instance Segmentation: 25 classes, 607 train videos, heavy occlusion, many objects per
# frame), in the official layout: annotations_<split>.json next to a <split>/ folder of video folders. Its
# frames are 720p like YouTube-VIS's, so the same pairs and 640x360 transforms as ytvis_2019.py; classes='ovis'
# checks the file's categories against the official table (names as the files spell them, 'Vehical' included).
_base_ = './ytvis_2019.py'
_ovis_root = 'data/ovis/'
data = dict(
    train=dict(ann_file=_ovis_root + 'annotations_train.json', img_dir=_ovis_root + 'train/', classes='ovis'),
    test=dict(ann_file=_ovis_root + 'annotations_valid.json', img_dir=_ovis_root + 'valid/', classes='ovis'),
)
