# QueryInst-VIS R-50-FPN, the part every dataset shares: QueryInst with 10 queries (the paper: YouTube-VIS has at most
# 10 instances per frame) + the MaskTrack R-CNN track head and association, 12-epoch finetune schedule. A dataset
# config goes beside it (configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py and the others).
_base_ = ['../schedules/schedule_1x.py', './masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(
        type='QueryInst',
        num_classes=40,
        num_proposals=10,
        num_stages=6,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True),
        max_per_img=10,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=500)
