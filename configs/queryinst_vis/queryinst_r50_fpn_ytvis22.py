# QueryInst-VIS R-50-FPN for YouTube-VIS 2022: the model and training of queryinst_r50_fpn_ytvis21.py (2022 has no
# training data of its own: its train set is 2021's, its valid set adds long videos of the same 40 classes). The
# test split is the 2022 valid set; write its submission with the 2021-trained model (one zip: the server scores
# the long videos separately from the short ones):
#   python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ytvis22.py work_dirs/queryinst_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/schedules/schedule_1x.py',
          '../_base_/video/masktrack_tracking.py']
model = dict(
    type='VideoSegmenter',
    segmenter=dict(
        type='QueryInst',
        num_classes=40,
        num_proposals=10,
        num_stages=6,
        backbone=dict(depth=50, pretrained=None, frozen_stages=1, norm_eval=True),
        max_per_img=10,
    ),
    track_head=dict(fc_channels=1024, num_fcs=2, last_relu=True),
    track_loss_weight=1.0,
)
schedule = dict(max_epochs=12, milestones=[8, 11], warmup_iters=500)
