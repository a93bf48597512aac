# The bundled demo model: the tiny QueryInst-VIS of configs/shapes/queryinst_vis_tiny_shapes.py (ResNet-18, 64-d,
# 3 stages, 30 queries, MaskTrack-style track head; 6 synthetic shape classes), trained on CPU by the project's
# own recipe, configs/recipes/shapes_queryinst.py (synthetic images -> pseudo-video pairs -> synthetic videos),
# and exported with tools/export_model.py --dtype int8 (models/demo/README.md says how, and what it scores).
_base_ = ['../../configs/shapes/queryinst_vis_tiny_shapes.py']
