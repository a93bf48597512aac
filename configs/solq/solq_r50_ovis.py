# SOLQ-VIS R-50 on OVIS (25 classes): solq_r50_ytvis19.py on the OVIS data, keeping 100 detections per frame
# instead of 10 (the 10 follow YouTube-VIS's at most 10 instances per frame; OVIS's crowded, occluded frames hold
# more), and the tracker as many. Finetune from a COCO SOLQ checkpoint (configs/solq/solq_r50_coco.py, or the
# official R-50 file; the classifier is re-initialised, 80 -> 25 classes, every other weight loads):
#   python tools/train.py configs/solq/solq_r50_ovis.py --load-from work/solq_coco/iter_N.pth
#   python tools/test_vis.py configs/solq/solq_r50_ovis.py work_dirs/solq_r50_ovis
_base_ = ['../_base_/datasets/ovis.py', '../_base_/schedules/schedule_solq_50e.py',
          '../_base_/video/masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(
        type='SOLQ',
        num_classes=25,
        num_queries=300,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm='frozen_bn'),
        max_per_img=100,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
tracker = dict(max_per_frame=100)  # YouTube-VIS's cap of 10 would drop most of a crowded OVIS frame
optimizer = dict(lr=1e-4)  # backbone x0.1, reference points and sampling offsets x0.1, as the COCO config
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=0)
