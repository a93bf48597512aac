# QueryInst-VIS R-50-FPN on YouTube-VIS 2019 (paper: 34.6 AP at 32.3 FPS): QueryInst with 10 queries
# ("the maximum number of instances in one frame in YouTube-VIS is 10, so we set the number of queries to
# 10") + MaskTrack R-CNN track head and association; 12-epoch finetune from the COCO pretraining of
# configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis-classes.py (same architecture and label space):
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py --load-from work/coco/iter_N.pth
_base_ = ['../_base_/datasets/ytvis_2019.py', '../_base_/video/queryinst_r50_vis.py']
