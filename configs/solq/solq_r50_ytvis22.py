# SOLQ-VIS R-50 for YouTube-VIS 2022: the model and training of solq_r50_ytvis21.py (2022's train set is 2021's);
# the test split is the 2022 valid set, long videos included. Write its submission with the 2021 model:
#   python tools/test_vis.py configs/solq/solq_r50_ytvis22.py work_dirs/solq_r50_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/video/solq_r50_vis.py']
