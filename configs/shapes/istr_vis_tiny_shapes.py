# Tiny ISTR-VIS on the synthetic YouTube-VIS videos (tools/make_synthetic_data.py --out data/shapes): the tiny
# image model of istr_tiny_shapes.py + a MaskTrack-style track head, finetuned on key/reference frame pairs from
# the image (or pseudo-video) checkpoint, which carries the PCA codec. Used as the last stage of
# configs/recipes/shapes_istr.py; on its own:
#   python tools/train.py configs/shapes/istr_vis_tiny_shapes.py --load-from work/istr_tiny/iter_16000.pth
# From scratch it needs the codec file named in istr_tiny_shapes.py (tools/fit_mask_codec.py, see there).
_base_ = ['./istr_tiny_shapes.py', '../_base_/video/shapes_vis_finetune.py']
model = dict(_delete_=True, type='VideoSegmenter', segmenter={{_base_.model}},
             track_head={{_base_._shapes_track_head}}, track_loss_weight=1.0)
data = {{_base_._shapes_vis_data}}
tracker = {{_base_._shapes_vis_tracker}}
optimizer = dict(lr={{_base_._shapes_vis_lr}})
schedule = {{_base_._shapes_vis_schedule}}
runtime = {{_base_._shapes_vis_runtime}}
