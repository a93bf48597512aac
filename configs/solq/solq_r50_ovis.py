# SOLQ-VIS R-50 on OVIS (25 classes): solq_r50_ytvis19.py on the OVIS data, keeping 100 detections per frame
# instead of 10 (the 10 follow YouTube-VIS's at most 10 instances per frame; OVIS's crowded, occluded frames hold
# more), and the tracker as many. Finetune from a COCO SOLQ checkpoint (configs/solq/solq_r50_coco.py, or the
# official R-50 file; the classifier is re-initialised, 80 -> 25 classes, every other weight loads):
#   python tools/train.py configs/solq/solq_r50_ovis.py --load-from work/solq_coco/iter_N.pth
#   python tools/test_vis.py configs/solq/solq_r50_ovis.py work_dirs/solq_r50_ovis
_base_ = ['../_base_/datasets/ovis.py', '../_base_/video/solq_r50_vis.py']
model = dict(segmenter=dict(num_classes=25, max_per_img=100))
tracker = dict(max_per_frame=100)  # YouTube-VIS's cap of 10 would drop most of a crowded OVIS frame
