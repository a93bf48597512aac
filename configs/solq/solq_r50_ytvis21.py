# SOLQ-VIS R-50 on YouTube-VIS 2021: solq_r50_ytvis19.py (SOLQ + MaskTrack R-CNN track head, 10 detections per
# frame, 12-epoch finetune at lr 1e-4: the toolkit's settings, not a SOLQ reference) on the 2021 data, 40 classes.
# Finetune from a COCO SOLQ checkpoint (configs/solq/solq_r50_coco.py, or the official R-50 file; the classifier
# is re-initialised, every other weight loads):
#   python tools/train.py configs/solq/solq_r50_ytvis21.py --load-from work/solq_coco/iter_N.pth
#   python tools/test_vis.py configs/solq/solq_r50_ytvis21.py work_dirs/solq_r50_ytvis21
_base_ = ['../_base_/datasets/ytvis_2021.py', '../_base_/video/solq_r50_vis.py']
