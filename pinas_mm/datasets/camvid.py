"""CamVid road scenes (Brostow et al., "Semantic object classes in video: a
high-definition ground truth database", Pattern Recognition Letters 2009) in mmseg's
``img_dir``/``ann_dir`` layout, with the 11 classes of the SegNet benchmark
(Badrinarayanan et al., TPAMI 2017).

Layout under ``data_root`` (the SegNet tutorial copy, 480x360 frames)::

    img_dir/{train,val}/<name>.jpg
    ann_dir/{train,val}/<name>.png    # uint8 index PNG: 0..10 = the classes below, 255 = void

Labels are stored as class indices already, so ``reduce_zero_label`` is False and void
(``255``) is mmseg's ``ignore_index``: void pixels count in neither the loss nor mIoU.
"""
import os.path as osp

from mmseg.datasets import BaseSegDataset

from ..registry import DATASETS

__all__ = ['CamVidDataset', 'CAMVID_CLASSES', 'CAMVID_PALETTE']

#: the 11 SegNet CamVid classes, in label order 0..10
CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'pavement', 'tree', 'sign', 'fence',
                  'car', 'pedestrian', 'bicyclist')
#: the SegNet tutorial's colour of each class (RGB), in label order
CAMVID_PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
                  [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                  [64, 0, 128], [64, 64, 0], [0, 128, 192]]


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid, 11 classes (``type='pinas_mm.CamVidDataset'`` in an mmseg config).

    Images ``*.jpg`` and index-PNG label maps ``*.png`` of the same name; ``reduce_zero_label``
    is fixed to False (0 is ``sky``) and ``ignore_index`` is 255 (void).

    Raises:
        FileNotFoundError: the image folder ``data_root/data_prefix['img_path']`` does not
            exist (names the folder and the expected layout).
    """
    METAINFO = dict(classes=CAMVID_CLASSES, palette=CAMVID_PALETTE)

    def __init__(self, img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=False,
                 ignore_index=255, **kwargs):
        if reduce_zero_label:
            raise ValueError('CamVidDataset: reduce_zero_label=True would drop class 0 '
                             "('sky'); CamVid labels are 0..10 with void = 255, use False")
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, ignore_index=ignore_index, **kwargs)

    def load_data_list(self):
        img_dir = self.data_prefix.get('img_path', '')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'CamVidDataset: no image folder {img_dir!r}; expected '
                "data_root/img_dir/{train,val}/*.jpg and data_root/ann_dir/{train,val}/*.png "
                '(tools/dataset_converters makes it from the SegNet CamVid layout)')
        return super().load_data_list()
