# QueryInst-VIS R-50 as in the paper: COCO pretraining (10 queries, COCO relabelled into the YouTube-VIS 2019
# classes), then 12-epoch YouTube-VIS 2019 finetuning with the track head, then the valid-set submission.
# Set model.backbone.pretrained of the first stage to a local torchvision ResNet-50 ImageNet state dict.
recipe = dict(
    stages=[
        dict(name='coco', config='configs/queryinst_vis/queryinst_r50_fpn_10q_coco_ytvis-classes.py',
             cfg_options={'model.backbone.pretrained': 'checkpoints/resnet50-0676ba61.pth'}),
        dict(name='ytvis19', config='configs/queryinst_vis/queryinst_r50_fpn_ytvis19.py'),
    ],
    evaluate=True,
)
work_dir = 'work/recipes/queryinst_r50_ytvis19'
