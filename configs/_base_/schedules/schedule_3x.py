# mmdetection QueryInst 3x: as 1x but 36 epochs, lr steps after epochs 27 and 33, warm-up 500 iterations.
_base_ = ['./schedule_1x.py']
schedule = dict(max_epochs=36, milestones=[27, 33], warmup_iters=500)
