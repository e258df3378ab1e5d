# The ResNeSt-50 baseline (every block = candidate 1) in the same DeepLabV3 ADE20K recipe
# as deeplabv3_pinas-trans-d8_4xb4-80k_ade20k-512x512.py (PAPERS.md: ResNeSt-50 45.12 mIoU /
# 81.17 pixAcc); only the arch differs.
# Expects tools/export_subnet.py SUPERNET.pth --arch resnest50 --out-dir work_dirs/export
# (or an mmpretrain ResNeSt-50 checkpoint; keys backbone.*). Other archs:
#   --cfg-options model.backbone.arch=path/to/ARCH.yaml model.backbone.init_cfg.checkpoint=...
_base_ = './deeplabv3_pinas-trans-d8_4xb4-80k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='resnest50',
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_resnest50_1111111111111111_backbone.pth')))
