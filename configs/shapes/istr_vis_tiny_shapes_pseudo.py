# Pseudo-video stage for the tiny ISTR-VIS: pairs of augmented views of the synthetic still images
# (vis.data.pairs.PseudoVideoPairs), so the track head learns identities before real videos.
# The same data section as queryinst_vis_tiny_shapes_pseudo.py.
_base_ = ['./istr_vis_tiny_shapes.py']
_coco = 'data/shapes/coco/'
data = dict(
    train=dict(
        _delete_=True,
        type='PseudoVideoPairs',
        dataset=dict(ann_file=_coco + 'annotations/instances_train.json', img_dir=_coco + 'train/'),
        transforms=[dict(type='RandomChoiceResize', scales=[(192, 128), (192, 144), (192, 160)], keep_ratio=True)],
        max_shift=0.1,
        flip_prob=0.5,
    ),
)
schedule = dict(max_iters=500, milestones=[400])
