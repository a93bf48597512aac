# SOLQ-VIS R-50, the part every dataset shares (configs/solq/solq_r50_ytvis19.py and the others put a dataset config
# beside it): SOLQ + the MaskTrack R-CNN track head, 10 detections per frame, 12-epoch finetune at lr 1e-4 (the
# toolkit's settings, not a SOLQ reference).
_base_ = ['../schedules/schedule_solq_50e.py', './masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(
        type='SOLQ',
        num_classes=40,
        num_queries=300,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm='frozen_bn'),
        max_per_img=10,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
optimizer = dict(lr=1e-4)  # backbone x0.1, reference points and sampling offsets x0.1, as the COCO config
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=0)
