# QueryInst-VIS R-50-FPN on OVIS (25 classes). Not the 10-query model: QueryInst-VIS's 10 queries rest on
# YouTube-VIS's at most 10 instances per frame, and OVIS's crowded, occluded scenes hold many more.
# So the COCO model's own 100 proposals and 100 detections per frame (the tracker keeps as many), which also
# makes the official COCO checkpoint the starting point: the same architecture, so every weight loads but the
# classifier (re-initialised, 80 -> 25 classes) and the new track head. 12-epoch finetune:
#   python tools/train.py configs/queryinst_vis/queryinst_r50_fpn_ovis.py --load-from queryinst_r50_fpn_1x_coco
#   python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ovis.py work_dirs/queryinst_r50_fpn_ovis
# (--load-from takes the model-zoo name, or the file queryinst_r50_fpn_1x_coco_20210907_084916-5a8f1998.pth.)
_base_ = ['../_base_/datasets/ovis.py', '../_base_/video/queryinst_r50_vis.py']
model = dict(segmenter=dict(num_classes=25, num_proposals=100, max_per_img=100))
tracker = dict(max_per_frame=100)  # YouTube-VIS's cap of 10 would drop most of a crowded OVIS frame
