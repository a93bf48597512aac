# SOLQ R-50 exactly as released (megvii-research/SOLQ, "Main Results": 47.8 box AP / 39.7 mask AP on COCO
# test-dev; file solq_r50_final.pth): the class head keeps the release's 91 slots, indexed by COCO category id, so
# the file loads unchanged (--checkpoint solq_r50_final.pth) and its logits are the official ones. Slot i is COCO
# category i; the 11 slots no COCO 2017 category uses are never emitted. Non-backbone parameters: 30,738,748, as the
# reference counts them (tools/model_info.py). configs/solq/solq_r50_coco.py is the same model with 80 contiguous
# labels; it loads the release too (the 80 used rows are taken). Training here also works: the datasets label
# each object by its category id.
_base_ = ['./solq_r50_coco.py']
model = dict(num_classes=91, unused_labels=[0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83])
class_names = 'coco_id_slots'
data = dict(train=dict(classes='coco_id_slots'), val=dict(classes='coco_id_slots'))
