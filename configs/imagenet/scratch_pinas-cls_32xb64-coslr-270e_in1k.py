# Stand-alone ImageNet training of Pi-NAS-cls from scratch (PAPERS.md: 81.6 / 95.7 top-1/5,
# 27.1M params, 5.38 GFLOPs) with mmpretrain's ResNeSt-50 recipe, inherited unchanged:
# RandAugment, EfficientNet crops, lighting, mixup 0.2, label smoothing 0.1, SGD lr 0.8 at
# batch 2048, 5 warm-up + 265 cosine epochs, no decay on biases and norms.
# Another arch (e.g. the best of your own search):
#   --cfg-options model.backbone.arch=path/to/ARCH.yaml
# 32 GPUs: bash tools/dist_train.sh CONFIG 32  (or fewer with --auto-scale-lr)
_base_ = 'mmpretrain::resnest/resnest50_32xb64_in1k.py'
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    backbone=dict(
        _delete_=True,  # drop the ResNeSt-only keys (depth, num_stages, ...)
        type='pinas_mm.PiNASResNeSt',
        arch='pinas-cls',
        space='resnest50',
        out_indices=(3, ),
        style='pytorch'))
# mmpretrain's resnest50 recipe has no schedule base, hence no val_cfg / test_cfg: without
# them the Runner refuses the inherited val_dataloader/val_evaluator. Validate every epoch.
train_cfg = dict(val_interval=1)
val_cfg = dict()
test_cfg = dict()
