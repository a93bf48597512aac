# SOLQ-VIS R-50 on YouTube-VIS 2019: SOLQ + the MaskTrack R-CNN track head and association (the same video
# wrapper as QueryInst-VIS; the track head pools 7x7 RoIs from the encoder memory at strides 8..64).
# The official SOLQ repository has no VIS code: the video-specific settings below (40 classes, 10 detections
# per frame, 12-epoch finetune at lr 1e-4) follow configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py, not a SOLQ
# reference. The segmenter is the R-50 model of configs/_base_/models/solq_r50.py (SOLQ's defaults).
# Finetune from a COCO SOLQ checkpoint (configs/solq/solq_r50_coco.py, or the official R-50 file):
#   python tools/train.py configs/solq/solq_r50_ytvis19.py --load-from work/solq_coco/iter_N.pth
# (the COCO classifier is re-initialised for the 40 YouTube-VIS classes; every other weight loads).
_base_ = ['../_base_/datasets/ytvis_2019.py', '../_base_/video/solq_r50_vis.py']
