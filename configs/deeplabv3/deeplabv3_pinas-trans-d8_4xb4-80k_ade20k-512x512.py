# DeepLabV3 (ASPP head + auxiliary FCN head), output stride 8, ADE20K 512x512, 80k iterations,
# with the Pi-NAS-trans backbone (PAPERS.md: 45.47 mIoU / 81.27 pixAcc). Everything but the
# backbone is mmseg's deeplabv3_r50-d8 recipe, inherited unchanged (SyncBN, poly lr 0.01).
# The backbone is dilated like mmseg's ResNetV1c-d8: strides (1, 2, 1, 1), dilations
# (1, 1, 2, 4), contract_dilation (first block of a dilated stage uses half the dilation).
#
# Expects the backbone checkpoint written by tools/export_subnet.py (keys `backbone.*`):
#   python tools/export_subnet.py work_dirs/<pinas run>/epoch_100.pth --arch pinas-trans \
#       --out-dir work_dirs/export
# Any exported arch and its checkpoint:
#   --cfg-options model.backbone.arch=path/to/ARCH.yaml \
#                 model.backbone.init_cfg.checkpoint=path/to/pinas_resnest50_ARCH_backbone.pth
# 4 GPUs: bash tools/dist_train.sh CONFIG 4
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,  # the base sets open-mmlab://resnet50_v1c; weights come from init_cfg
    backbone=dict(
        _delete_=True,  # drop the ResNetV1c-only keys (depth, num_stages, ...)
        type='pinas_mm.PiNASResNeSt',
        arch='pinas-trans',
        space='resnest50',
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/export/pinas_resnest50_3333113330011021_backbone.pth',
            prefix='backbone.')))
