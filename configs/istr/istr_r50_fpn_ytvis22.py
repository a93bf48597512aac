# ISTR + track head for YouTube-VIS 2022: the model and training of istr_r50_fpn_ytvis21.py (2022's train set is
# 2021's); the test split is the 2022 valid set, long videos included. Write its submission with the 2021 model:
#   python tools/test_vis.py configs/istr/istr_r50_fpn_ytvis22.py work_dirs/istr_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/schedules/schedule_1x.py',
          '../_base_/video/masktrack_tracking.py']
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
