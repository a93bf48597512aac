# mmdetection QueryInst 1x: AdamW lr 1e-4 (total batch 16), wd 1e-4, backbone lr x0.1, grad clip 0.1 (L2),
# 12 epochs with lr x0.1 after epochs 8 and 11, linear warm-up over 1000 iterations from 0.001.
optimizer = dict(type='AdamW', lr=1e-4, weight_decay=1e-4, backbone_lr_mult=0.1, clip_grad_norm=0.1)
schedule = dict(max_epochs=12, milestones=[8, 11], gamma=0.1, warmup_iters=1000, warmup_factor=0.001)
runtime = dict(seed=0, log_interval=50, checkpoint_interval=5000, eval_interval=0, max_keep_ckpts=3)
evaluation = dict(metrics=['bbox', 'segm'])
