# ISTR + MaskTrack-style track head, the part every dataset shares (configs/istr/istr_r50_fpn_ytvis19.py and the
# others put a dataset config beside it): 300 proposals and the PCA codec of the COCO model, ISTR's optimizer on the
# 12-epoch finetune schedule.
_base_ = ['../schedules/schedule_1x.py', './masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(  # every other setting is ISTR's default, i.e. the R-50 model of _base_/models/istr_r50_fpn.py
        type='ISTR',
        num_classes=40,
        num_proposals=300,
        num_stages=6,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm='frozen_bn'),
        mask_codec='work/codecs/coco_pca60.pth',  # only read when training from scratch
        max_per_img=100,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
tracker = dict(dedup_by='query_index')  # the same query under several labels is one detection
# ISTR's optimizer (AdamW 2.5e-5, clip 1.0, no backbone multiplier) on the 12-epoch finetune schedule.
optimizer = dict(_delete_=True, type='AdamW', lr=2.5e-5, weight_decay=1e-4, backbone_lr_mult=1.0, clip_grad_norm=1.0)
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=500)
