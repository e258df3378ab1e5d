# The ResNeSt-50 baseline of the Pi-NAS space (every block = candidate 1) in the same
# Mask R-CNN recipe as mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py (PAPERS.md:
# ResNeSt-50 42.81 box AP / 38.14 mask AP). The arch is the only difference.
#
# Expects the backbone checkpoint written by tools/export_subnet.py from the same supernet:
#   python tools/export_subnet.py work_dirs/<pinas run>/epoch_100.pth --arch resnest50 \
#       --out-dir work_dirs/export
#   -> work_dirs/export/pinas_resnest50_1111111111111111_backbone.pth
# An mmpretrain ResNeSt-50 checkpoint (keys backbone.*) loads unchanged as well. Any other
# exported arch: --cfg-options model.backbone.arch=path/to/ARCH.yaml \
#                              model.backbone.init_cfg.checkpoint=path/to/ckpt.pth
_base_ = './mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py'
model = dict(
    backbone=dict(
        arch='resnest50',
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_resnest50_1111111111111111_backbone.pth')))
