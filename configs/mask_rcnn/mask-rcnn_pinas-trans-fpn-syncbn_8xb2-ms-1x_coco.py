# Mask R-CNN, FPN, SyncBN in backbone and heads, multi-scale train 640-800, 1x, COCO 2017,
# with the Pi-NAS-trans backbone (PAPERS.md: 44.07 box AP / 39.50 mask AP).
# Everything but the backbone is mmdet's ResNeSt recipe, inherited unchanged.
#
# Expects the backbone checkpoint written by tools/export_subnet.py (keys `backbone.*`):
#   python tools/export_subnet.py work_dirs/<pinas run>/epoch_100.pth --arch pinas-trans \
#       --out-dir work_dirs/export
#   -> work_dirs/export/3333113330011021.yaml
#      work_dirs/export/pinas_resnest50_3333113330011021_backbone.pth
# Any exported arch (e.g. the best arch of your own search) and its checkpoint:
#   python tools/train.py configs/mask_rcnn/mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py \
#       --cfg-options model.backbone.arch=path/to/ARCH.yaml \
#                     model.backbone.init_cfg.checkpoint=path/to/pinas_resnest50_ARCH_backbone.pth
# 8 GPUs: bash tools/dist_train.sh CONFIG 8
_base_ = 'mmdet::resnest/mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py'
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmdet'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,  # drop the ResNeSt-only keys (depth, radix, stem_channels, ...)
        type='pinas_mm.PiNASResNeSt',
        arch='pinas-trans',
        space='resnest50',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/export/pinas_resnest50_3333113330011021_backbone.pth',
            prefix='backbone.')))
