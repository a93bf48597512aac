# COCO pretraining for QueryInst-VIS: the VIS architecture (10 queries) on COCO images relabelled into the
# YouTube-VIS 2019 label space through the COCO -> YouTube-VIS class map (vis.data.ytvis.COCO_TO_YTVIS_2019;
# COCO classes without a YouTube-VIS counterpart are dropped), so every weight transfers to the finetune.
_base_ = [
    '../_base_/models/queryinst_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/schedule_1x.py',
]
model = dict(num_classes=40, num_proposals=10, max_per_img=10)
data = dict(train=dict(class_map='coco_to_ytvis2019', classes='ytvis2019'),
            val=dict(class_map='coco_to_ytvis2019', classes='ytvis2019'))
