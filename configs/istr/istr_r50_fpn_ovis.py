# ISTR + MaskTrack-style track head on OVIS (25 classes): istr_r50_fpn_ytvis19.py on the OVIS data. Its 300
# proposals and top-100 detections per frame already suit OVIS's crowded frames; the tracker keeps up to 100 of
# them (not YouTube-VIS's 10). Finetuned 12 epochs from the COCO model of configs/istr/istr_r50_fpn_3x_coco.py
# (only the classifier is re-initialised, 80 -> 25 classes):
#   python tools/train.py configs/istr/istr_r50_fpn_ovis.py --load-from work/istr_coco/iter_270000.pth
#   python tools/test_vis.py configs/istr/istr_r50_fpn_ovis.py work_dirs/istr_r50_fpn_ovis
_base_ = ['../_base_/datasets/ovis.py', '../_base_/video/istr_r50_vis.py']
model = dict(segmenter=dict(num_classes=25, num_proposals=300, max_per_img=100))
tracker = dict(dedup_by='query_index', max_per_frame=100)  # one detection per query; OVIS frames are crowded
