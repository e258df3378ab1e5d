# Linear evaluation of an exported self-supervised Pi-NAS backbone: mmpretrain's MoCo v2
# linear benchmark, inherited unchanged (frozen backbone incl. BN statistics, linear head,
# SGD lr 30, no weight decay, 100 epochs, steps at 60/80, batch 256).
#
# Expects the backbone checkpoint written by tools/export_subnet.py (keys `backbone.*`):
#   python tools/export_subnet.py work_dirs/<pinas run>/epoch_100.pth --arch pinas-cls \
#       --out-dir work_dirs/export
# Any exported arch and its checkpoint (e.g. the result of a search):
#   python tools/export_subnet.py SUPERNET.pth --from-search work_dirs/<search run> \
#       --out-dir work_dirs/export
#   python tools/train.py configs/imagenet/linear-eval_pinas-cls_8xb32-steplr-100e_in1k.py \
#       --cfg-options model.backbone.arch=work_dirs/export/ARCH.yaml \
#       model.backbone.init_cfg.checkpoint=work_dirs/export/pinas_resnest50_ARCH_backbone.pth
_base_ = 'mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py'
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    backbone=dict(
        _delete_=True,  # drop the ResNet-only keys (depth, num_stages, ...)
        type='pinas_mm.PiNASResNeSt',
        arch='pinas-cls',
        space='resnest50',
        out_indices=(3, ),
        frozen_stages=4,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/export/pinas_resnest50_3013231203213032_backbone.pth',
            prefix='backbone.')))
