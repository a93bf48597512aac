# COCO pretraining for QueryInst-VIS on YouTube-VIS 2021 / 2022: as queryinst_r50_fpn_10q_coco_ytvis-classes.py, with
# COCO relabelled into the 2021 classes (vis.data.ytvis_classes.COCO_TO_YTVIS_2021, which also keeps bird, car and
# frisbee). The 2019 pretraining would load into a 2021 model without a shape mismatch, but its 40 classifier rows
# would name 2019's classes.
_base_ = ['./queryinst_r50_fpn_10q_coco_ytvis-classes.py']
data = dict(train=dict(class_map='coco_to_ytvis2021', classes='ytvis2021'),
            val=dict(class_map='coco_to_ytvis2021', classes='ytvis2021'))
