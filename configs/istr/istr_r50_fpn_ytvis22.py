# ISTR + track head for YouTube-VIS 2022: the model and training of istr_r50_fpn_ytvis21.py (2022's train set is
# 2021's); the test split is the 2022 valid set, long videos included. Write its submission with the 2021 model:
#   python tools/test_vis.py configs/istr/istr_r50_fpn_ytvis22.py work_dirs/istr_r50_fpn_ytvis21
_base_ = ['../_base_/datasets/ytvis_2022.py', '../_base_/video/istr_r50_vis.py']
