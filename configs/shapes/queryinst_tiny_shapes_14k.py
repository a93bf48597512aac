# The tiny QueryInst of queryinst_tiny_shapes.py on a 14,000-iteration schedule: the issue-2 learning run and the
# first stage of configs/recipes/shapes_queryinst.py. About 3.5 h on 2 CPU cores, so it checkpoints every 500
# iterations and is meant to be resumed across sittings with --resume. The 6000-iteration schedule of the base
# config stepped its learning rate while the AP was still climbing ~0.05 per 800 iterations; here the learning
# rate stays at 2.5e-4 until the climb flattens (docs/learning_runs.md) and steps at 12,000 and 13,300.
_base_ = ['./queryinst_tiny_shapes.py']
schedule = dict(max_iters=14000, milestones=[12000, 13300])
runtime = dict(checkpoint_interval=500, eval_interval=1000, max_keep_ckpts=3)
