# Tiny SOLQ for CPU training on the synthetic shapes images (tools/make_synthetic_data.py --out data/shapes).
# Same architecture and backbone recipe as the R-50 model (configs/_base_/models/solq_r50.py: stem + layer1 frozen,
# FrozenBN), smaller: ResNet-18, 64-d transformer with 4 heads, 3 encoder + 3 decoder layers, 30 queries, vector
# MLP width 256; the DCT code is unchanged (256 coefficients of a 128x128 mask). No dropout: the data set is small
# and synthetic. As the R-50 model starts from ImageNet weights, this one starts from a ResNet-18 trained on the
# shapes images (by the tiny QueryInst run; no ImageNet weights can be downloaded here). Make that file once:
#   python tools/train.py configs/shapes/queryinst_tiny_shapes.py --work-dir work/tiny_shapes     # ~75 min on 2 cores
#   python tools/export_model.py work/tiny_shapes/iter_6000.pth work/pretrained/r18_shapes.pth --backbone-only
_base_ = ['../_base_/models/solq_r50.py']
_root = 'data/shapes/coco/'
_classes = 6  # circle, square, triangle, star, hexagon, cross (vis.data.synthetic.CLASS_NAMES)

model = dict(
    num_classes=_classes,
    num_queries=30,
    backbone=dict(depth=18, pretrained='work/pretrained/r18_shapes.pth'),
    hidden_dim=64,
    num_heads=4,
    enc_layers=3,
    dec_layers=3,
    dim_feedforward=256,
    dropout=0.0,
    vector_hidden_dim=256,
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
optimizer = dict(type='AdamW', lr=2e-4, weight_decay=1e-4, backbone_lr_mult=0.1,  # the reference's 2e-5 backbone lr
                 lr_mults={'reference_points': 0.1, 'sampling_offsets': 0.1}, clip_grad_norm=0.1)
schedule = dict(max_iters=16000, milestones=[13500, 15000], gamma=0.1, warmup_iters=100, warmup_factor=0.001)
runtime = dict(seed=0, log_interval=20, checkpoint_interval=500, eval_interval=2000, max_keep_ckpts=3)
evaluation = dict(metrics=['bbox', 'segm'])
# On videos (tools/run_video.py, tools/test_vis.py, tools/test_seeds.py --task videos) this image model tracks by its
# query embeddings, with QueryTracker's documented defaults (vis/tracking/query_tracker.py); tune with
# --cfg-options tracker.KEY=VALUE. The video configs built on this file replace the type (and set their own keys).
tracker = dict(type='QueryTracker')
