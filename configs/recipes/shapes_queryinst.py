# The synthetic counterpart of the QueryInst-VIS recipe, small enough for a CPU:
# still images (the "COCO" stage) -> pseudo-video pairs -> video finetuning -> evaluation on held-out videos.
#   python tools/make_synthetic_data.py --out data/shapes
#   python tools/train_recipe.py configs/recipes/shapes_queryinst.py
# On 2 CPU cores the image stage (14,000 iterations) takes about 3.5 h and the two video stages about 20 min; every
# stage resumes where it stopped when the command is run again.
recipe = dict(
    stages=[
        dict(name='images', config='configs/shapes/queryinst_tiny_shapes_14k.py'),
        dict(name='pseudo_video', config='configs/shapes/queryinst_vis_tiny_shapes_pseudo.py'),
        dict(name='video', config='configs/shapes/queryinst_vis_tiny_shapes.py'),
    ],
    evaluate=True,
)
work_dir = 'work/recipes/shapes_queryinst'
