# The tiny QueryInst of queryinst_tiny_shapes.py on a 20,000-iteration schedule (about 3 h on 2 CPU cores, so it
# is meant to be resumed across sittings with --resume): the 6000-iteration run was still gaining ~0.05 segm AP
# every 800 iterations at constant learning rate when its first step came (docs/learning_runs.md).
_base_ = ['./queryinst_tiny_shapes.py']
schedule = dict(max_iters=20000, milestones=[17000, 19000])
runtime = dict(checkpoint_interval=500, eval_interval=2000, max_keep_ckpts=3)
