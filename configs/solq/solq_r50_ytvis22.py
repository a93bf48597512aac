# SOLQ-VIS R-50 for YouTube-VIS 2022: the model and training of solq_r50_ytvis21.py (2022's train set is 2021's);
# the test split is the 2022 valid set, long videos included. Write its submission with the 2021 model:
#   python tools/test_vis.py configs/solq/solq_r50_ytvis22.py work_dirs/solq_r50_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/schedules/schedule_solq_50e.py',
          '../_base_/video/masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(
        type='SOLQ',
        num_classes=40,
        num_queries=300,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm='frozen_bn'),
        max_per_img=10,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
optimizer = dict(lr=1e-4)  # backbone x0.1, reference points and sampling offsets x0.1, as the COCO config
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=0)
