# QueryInst-VIS R-50-FPN on YouTube-VIS 2021: the ytvis19 model (10 queries, 40 classes, MaskTrack R-CNN track head
# and association) on the 2021 data. The paper reports 2019 only; its 10 queries rest on YouTube-VIS's at most 10
# instances per frame, which the 2021 videos are the same kind of footage as. 12-epoch finetune from the COCO
# pretraining in the 2021 label space, configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis21-classes.py:
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis21-classes.py --work-dir work/coco21
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_ytvis21.py --load-from work/coco21/iter_N.pth
#   python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ytvis21.py work_dirs/queryinst_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2021.py', '../_base_/video/queryinst_r50_vis.py']
