# QueryInst-VIS R-50-FPN for YouTube-VIS 2022: the model and training of queryinst_r50_fpn_ytvis21.py (2022 has no
# training data of its own: its train set is 2021's, its valid set adds long videos of the same 40 classes). The
# test split is the 2022 valid set; write its submission with the 2021-trained model (one zip: the server scores
# the long videos separately from the short ones):
#   python tools/test_vis.py configs/queryinst_vis/queryinst_r50_fpn_ytvis22.py work_dirs/queryinst_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/video/queryinst_r50_vis.py']
