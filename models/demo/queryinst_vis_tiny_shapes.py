# The bundled demo model: the tiny QueryInst-VIS of configs/shapes/queryinst_vis_tiny_shapes.py (ResNet-18, 64-d,
# 3 stages, 30 queries, MaskTrack-style track head; 6 synthetic shape classes), trained on CPU by the project's
# own recipe, configs/recipes/shapes_queryinst.py (synthetic images -> pseudo-video pairs -> synthetic videos),
# and exported with tools/export_model.py --dtype int8 (models/demo/README.md says how, and what it scores).
# It tracks with QueryTracker (the segmenter's query embeddings, settings chosen on the `valid` splits), which
# measures better than its own track head on the held-out test videos, short and long (models/demo/README.md).
#
# For the track head with its tuned settings, run the same weights with --config
# configs/shapes/queryinst_vis_tiny_shapes.py (`--tracker OnlineTracker` here gets OnlineTracker's defaults).
_base_ = ['../../configs/shapes/queryinst_vis_tiny_shapes_query_tracker.py']
