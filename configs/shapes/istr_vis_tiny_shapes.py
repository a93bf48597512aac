# Tiny ISTR-VIS on the synthetic YouTube-VIS videos (tools/make_synthetic_data.py --out data/shapes): the tiny
# image model of istr_tiny_shapes.py + a MaskTrack-style track head, finetuned on key/reference frame pairs from
# the image (or pseudo-video) checkpoint, which carries the PCA codec. Used as the last stage of
# configs/recipes/shapes_istr.py; on its own:
#   python tools/train.py configs/shapes/istr_vis_tiny_shapes.py --load-from work/istr_tiny/iter_16000.pth
# From scratch it needs the codec file named in istr_tiny_shapes.py (tools/fit_mask_codec.py, see there).
_base_ = ['./istr_tiny_shapes.py']
_ytvis = 'data/shapes/ytvis/'
model = dict(
    _delete_=True,
    type='VideoSegmenter',
    segmenter={{_base_.model}},
    track_head=dict(fc_channels=256, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
_eval_split = dict(type='YTVISDataset', test_mode=True,  # val and test: the same transforms, other files
                   transforms=[dict(type='Resize', scale=(192, 144), keep_ratio=True)])
data = dict(
    _delete_=True,
    samples_per_gpu=4,
    workers_per_gpu=1,
    train=dict(
        type='YTVISDataset',
        ann_file=_ytvis + 'train.json',
        img_dir=_ytvis + 'train/JPEGImages/',
        ref_frame_range=100,
        transforms=[
            dict(type='RandomChoiceResize', scales=[(192, 128), (192, 144), (192, 160)], keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    # Tracker settings are chosen on valid (tools/test_seeds.py --split val); figures are reported on test.
    val=dict(_eval_split, ann_file=_ytvis + 'valid.json', img_dir=_ytvis + 'valid/JPEGImages/'),
    test=dict(_eval_split, ann_file=_ytvis + 'test.json', img_dir=_ytvis + 'test/JPEGImages/'),
)
tracker = dict(type='OnlineTracker', score_thr=0.05, init_score_thr=0.3, nms_iou_thr=0.5, max_per_frame=10,
               num_frames_retain=20)
optimizer = dict(lr=1e-4)
schedule = dict(_delete_=True, max_iters=1000, milestones=[800], gamma=0.1, warmup_iters=50, warmup_factor=0.001)
runtime = dict(eval_interval=0, checkpoint_interval=500)
