# QueryInst-VIS R-50-FPN on YouTube-VIS 2019 (paper: 34.6 AP at 32.3 FPS): QueryInst with 10 queries
# ("the maximum number of instances in one frame in YouTube-VIS is 10, so we set the number of queries to
# 10") + MaskTrack R-CNN track head and association; 12-epoch finetune from the COCO pretraining of
# configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis-classes.py (same architecture and label space):
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py --load-from work/coco/iter_N.pth
_base_ = ['../_base_/datasets/ytvis_2019.py', '../_base_/schedules/schedule_1x.py',
          '../_base_/video/masktrack_tracking.py']
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
