# ISTR + MaskTrack-style track head on YouTube-VIS 2019 (the toolkit's VIS recipe, as QueryInst-VIS in
# configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py; the ISTR authors published no VIS model). Finetuned 12 epochs
# from the COCO model of configs/istr/istr_r50_fpn_3x_coco.py, keeping its 300 proposals so every weight but the
# 80-way classifier transfers (the 40-way classifier is re-initialised), and its PCA codec, which the checkpoint
# carries (mask_encoding.*):
#   python tools/train.py configs/istr/istr_r50_fpn_ytvis19.py --load-from work/istr_coco/iter_270000.pth
# The segmenter keeps its top-100 (query, class) pairs per frame; the tracker de-duplicates by query and keeps 10.
_base_ = ['../_base_/datasets/ytvis_2019.py', '../_base_/video/istr_r50_vis.py']
