# ISTR + MaskTrack-style track head on OVIS (25 classes): istr_r50_fpn_ytvis19.py on the OVIS data. Its 300
# proposals and top-100 detections per frame already suit OVIS's crowded frames; the tracker keeps up to 100 of
# them (not YouTube-VIS's 10). Finetuned 12 epochs from the COCO model of configs/istr/istr_r50_fpn_3x_coco.py
# (only the classifier is re-initialised, 80 -> 25 classes):
#   python tools/train.py configs/istr/istr_r50_fpn_ovis.py --load-from work/istr_coco/iter_270000.pth
#   python tools/test_vis.py configs/istr/istr_r50_fpn_ovis.py work_dirs/istr_r50_fpn_ovis
_base_ = ['../_base_/datasets/ovis.py', '../_base_/schedules/schedule_1x.py',
          '../_base_/video/masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(  # every other setting is ISTR's default, i.e. the R-50 model of _base_/models/istr_r50_fpn.py
        type='ISTR',
        num_classes=25,
        num_proposals=300,
        num_stages=6,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True, norm='frozen_bn'),
        mask_codec='work/codecs/coco_pca60.pth',  # only read when training from scratch
        max_per_img=100,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
tracker = dict(dedup_by='query_index', max_per_frame=100)  # one detection per query; OVIS frames are crowded
# ISTR's optimizer (AdamW 2.5e-5, clip 1.0, no backbone multiplier) on the 12-epoch finetune schedule.
optimizer = dict(_delete_=True, type='AdamW', lr=2.5e-5, weight_decay=1e-4, backbone_lr_mult=1.0, clip_grad_norm=1.0)
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=500)
