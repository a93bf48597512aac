# Tiny SOLQ-VIS on the synthetic YouTube-VIS videos (tools/make_synthetic_data.py --out data/shapes): the tiny
# image model of solq_tiny_shapes_d128.py + a MaskTrack-style track head (7x7 RoIs of the encoder memory), finetuned
# on key/reference frame pairs from the image checkpoint (--load-from).
_base_ = ['./solq_tiny_shapes_d128.py',  # the 64-d model reached only 0.314 segm AP (docs/learning_runs.md)
          '../_base_/video/shapes_vis_finetune.py']
model = dict(_delete_=True, type='VideoSegmenter', segmenter={{_base_.model}},
             track_head={{_base_._shapes_track_head}}, track_loss_weight=1.0)
data = {{_base_._shapes_vis_data}}
tracker = {{_base_._shapes_vis_tracker}}
optimizer = dict(lr={{_base_._shapes_vis_lr}})
schedule = {{_base_._shapes_vis_schedule}}
runtime = {{_base_._shapes_vis_runtime}}
