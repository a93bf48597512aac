# SOLQ / Deformable DETR schedule (SOLQ main.py defaults): AdamW lr 2e-4 for a total batch of 32 (8 GPUs x 4),
# weight decay 1e-4, backbone lr 2e-5 (x0.1), lr x0.1 for the `reference_points` and `sampling_offsets` linears,
# gradient clipping max-norm 0.1, 50 epochs with lr x0.1 after epoch 40 (StepLR 40), no warm-up.
optimizer = dict(
    type='AdamW',
    lr=2e-4,
    weight_decay=1e-4,
    backbone_lr_mult=0.1,
    lr_mults={'reference_points': 0.1, 'sampling_offsets': 0.1},
    clip_grad_norm=0.1,
)
schedule = dict(max_epochs=50, milestones=[40], gamma=0.1, warmup_iters=0)
runtime = dict(seed=42, log_interval=50, checkpoint_interval=5000, eval_interval=0, max_keep_ckpts=3)
evaluation = dict(metrics=['bbox', 'segm'])
