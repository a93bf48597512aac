# ISTR + MaskTrack-style track head on YouTube-VIS 2021: istr_r50_fpn_ytvis19.py on the 2021 data and its 40 classes.
# Finetuned 12 epochs from the COCO model of configs/istr/istr_r50_fpn_3x_coco.py (300 proposals; only the 80-way
# classifier is re-initialised, and the PCA codec comes with the checkpoint):
#   python tools/train.py configs/istr/istr_r50_fpn_ytvis21.py --load-from work/istr_coco/iter_270000.pth
#   python tools/test_vis.py configs/istr/istr_r50_fpn_ytvis21.py work_dirs/istr_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2021.py', '../_base_/video/istr_r50_vis.py']
