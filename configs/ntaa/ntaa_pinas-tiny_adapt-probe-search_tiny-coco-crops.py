# NTAA per-domain adaptation to a second tiny domain: classification crops of the tiny
# COCO data (3 classes: circle, square, triangle on textured scenes; 157 train / 45 val
# crops, 64x64), derived once by the `prepare` stage (pinas_mm.orchestration.ntaa.coco_crops:
# each instance box + 15% margin, squared, resized) into an ImageNet-format folder that
# mmpretrain's CustomDataset reads like the tiny ImageNet data (meta/{train,val}.txt).
#   python tools/adapt_domain.py configs/ntaa/ntaa_pinas-tiny_adapt-probe-search_tiny-coco-crops.py \
#       --source work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth
# The source supernet is trained on the tiny ImageNet-format data (8 shape x colour
# classes on plain backgrounds); the target has 3 classes on textured scene crops. In the
# tiny COCO data each shape has its own colour, so colour alone separates the target
# classes: an easy target, there to exercise a second domain, not to measure transfer.
_base_ = ['./ntaa_pinas-tiny_adapt-probe-search_tiny-in.py']
target = dict(
    _delete_=True, name='tiny-coco-crops', data_root='data/tiny/coco_crops/',
    prepare=dict(type='coco_crops', coco_root='data/tiny/coco', margin=0.15, size=64))
_classes = 3
probe = dict(cfg_options={'model.head.num_classes': _classes,
                          'model.data_preprocessor.num_classes': _classes})
search = dict(cfg_options={'model.head.num_classes': _classes,
                           'model.data_preprocessor.num_classes': _classes})
