# QueryInst-VIS R-50-FPN on YouTube-VIS 2021: the ytvis19 model (10 queries, 40 classes, MaskTrack R-CNN track head
# and association) on the 2021 data. The paper reports 2019 only; its 10 queries rest on YouTube-VIS's at most 10
# instances per frame, which the 2021 videos are the same kind of footage as. 12-epoch finetune from the COCO
# pretraining in the 2021 label space, configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis21-classes.py:
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis21-classes.py --work-dir work/coco21
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_ytvis21.py --load-from work/coco21/iter_N.pth
#   python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ytvis21.py work_dirs/queryinst_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2021.py', '../_base_/schedules/schedule_1x.py',
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
