# What the three tiny *_vis_tiny_shapes.py configs share: finetuning an image model of configs/shapes/ into a
# VideoSegmenter on the synthetic YouTube-VIS videos (tools/make_synthetic_data.py --out data/shapes). The pieces
# are helper variables (names starting with '_'), taken by each video config next to its image config:
#   _base_ = ['./istr_tiny_shapes.py', '../_base_/video/shapes_vis_finetune.py']
#   model = dict(_delete_=True, type='VideoSegmenter', segmenter={{_base_.model}},
#                track_head={{_base_._shapes_track_head}}, track_loss_weight=1.0)
_shapes_ytvis = 'data/shapes/ytvis/'
# MaskTrack R-CNN's track head: 2 fc layers of 256 on 7x7 RoI features, ReLU after the last.
_shapes_track_head = dict(fc_channels=256, num_fcs=2, last_relu=True)
_shapes_vis_eval_split = dict(type='YTVISDataset', test_mode=True,  # val and test: the same transforms, other files
                              transforms=[dict(type='Resize', scale=(192, 144), keep_ratio=True)])
_shapes_vis_data = dict(
    _delete_=True,
    samples_per_gpu=4,
    workers_per_gpu=1,
    train=dict(
        type='YTVISDataset',
        ann_file=_shapes_ytvis + 'train.json',
        img_dir=_shapes_ytvis + 'train/JPEGImages/',
        ref_frame_range=100,  # the reference frame is any other annotated frame of the video
        transforms=[
            # the image configs' train sizes (short side 128-160 on a 192 long side)
            dict(type='RandomChoiceResize', scales=[(192, 128), (192, 144), (192, 160)], keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ],
    ),
    # Tracker settings are chosen on valid (tools/test_seeds.py --split val); figures are reported on test.
    val=dict(_shapes_vis_eval_split, ann_file=_shapes_ytvis + 'valid.json',
             img_dir=_shapes_ytvis + 'valid/JPEGImages/'),
    test=dict(_shapes_vis_eval_split, ann_file=_shapes_ytvis + 'test.json',
              img_dir=_shapes_ytvis + 'test/JPEGImages/'),
)
# MaskTrack R-CNN's online tracker with its match weights (vis/tracking/tracker.py defaults); a detection scoring
# >= 0.3 starts a track, >= 0.05 may continue one; at most 10 per frame; a track unseen for 20 frames ends.
_shapes_vis_tracker = dict(type='OnlineTracker', score_thr=0.05, init_score_thr=0.3, nms_iou_thr=0.5,
                           max_per_frame=10, num_frames_retain=20)
# Finetuning from an image checkpoint: lr 1e-4 (0.4x the image runs'), 1,000 iterations, x0.1 at 800.
_shapes_vis_lr = 1e-4
_shapes_vis_schedule = dict(_delete_=True, max_iters=1000, milestones=[800], gamma=0.1, warmup_iters=50,
                            warmup_factor=0.001)
_shapes_vis_runtime = dict(eval_interval=0, checkpoint_interval=500)
