# The synthetic QueryInst-VIS-style recipe with SOLQ as the per-frame segmenter (see shapes_queryinst.py):
# still images -> pseudo-video pairs -> video finetuning -> evaluation on the held-out videos.
#   python tools/make_synthetic_data.py --out data/shapes
#   python tools/train.py configs/shapes/queryinst_tiny_shapes.py --work-dir work/tiny_shapes   # the backbone's start
#   python tools/export_model.py work/tiny_shapes/iter_6000.pth work/pretrained/r18_shapes.pth --backbone-only
#   python tools/train_recipe.py configs/recipes/shapes_solq.py
recipe = dict(
    stages=[
        dict(name='images', config='configs/shapes/solq_tiny_shapes_d128.py'),
        dict(name='pseudo_video', config='configs/shapes/solq_vis_tiny_shapes_pseudo.py'),
        dict(name='video', config='configs/shapes/solq_vis_tiny_shapes.py'),
    ],
    evaluate=True,
)
work_dir = 'work/recipes/shapes_solq'
