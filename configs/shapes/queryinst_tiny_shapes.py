# Tiny QueryInst for CPU training on the synthetic shapes images (tools/make_synthetic_data.py --out data/shapes).
# Same architecture as the R-50 model, smaller: ResNet-18 trained from scratch (no ImageNet weights here, so
# nothing is frozen and BatchNorm trains), 64-d queries, 3 stages, 30 proposals.
_base_ = ['../_base_/models/queryinst_r50_fpn.py']
_root = 'data/shapes/coco/'
_classes = 6  # circle, square, triangle, star, hexagon, cross (vis.data.synthetic.CLASS_NAMES)

model = dict(
    num_classes=_classes,
    num_proposals=30,
    num_stages=3,
    backbone=dict(depth=18, pretrained=None, frozen_stages=-1, norm_eval=False),
    hidden_dim=64,
    num_heads=4,
    feedforward_channels=256,
    dynamic_channels=16,
    mask_num_convs=2,
    max_per_img=30,
)
_eval_split = dict(type='CocoDataset', test_mode=True,  # val and test: the same transforms, other files
                   transforms=[dict(type='Resize', scale=(192, 144), keep_ratio=True)])
data = dict(
    samples_per_gpu=4,
    workers_per_gpu=1,
    train=dict(
        type='CocoDataset',
        ann_file=_root + 'annotations/instances_train.json',
        img_dir=_root + 'train/',
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomChoiceResize', scales=[(192, 128), (192, 144), (192, 160)], keep_ratio=True),
        ],
    ),
    # Choices (schedule, thresholds) are made on val, evaluated during training; figures are reported on test.
    val=dict(_eval_split, ann_file=_root + 'annotations/instances_val.json', img_dir=_root + 'val/'),
    test=dict(_eval_split, ann_file=_root + 'annotations/instances_test.json', img_dir=_root + 'test/'),
)
optimizer = dict(type='AdamW', lr=2.5e-4, weight_decay=1e-4, backbone_lr_mult=1.0, clip_grad_norm=1.0)
schedule = dict(max_iters=6000, milestones=[4800, 5600], gamma=0.1, warmup_iters=100, warmup_factor=0.001)
runtime = dict(seed=0, log_interval=20, checkpoint_interval=800, eval_interval=800, max_keep_ckpts=2)
evaluation = dict(metrics=['bbox', 'segm'])
# On videos (tools/run_video.py, tools/test_vis.py, tools/test_seeds.py --task videos) this image model tracks by its
# query embeddings, with QueryTracker's documented defaults (vis/tracking/query_tracker.py); tune with
# --cfg-options tracker.KEY=VALUE. The video configs built on this file replace the type (and set their own keys).
tracker = dict(type='QueryTracker')
