# Pi-NAS supernet-Pi model on the ResNeSt-50 space (PAPERS.md, "Supernet training").
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
space = 'resnest50'
model = dict(
    type='pinas_mm.PiNAS',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='pinas_mm.PiNASSuperNet', space=space, out_indices=(3, ),
                  norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
    queue_len=49152, feat_dim=128, momentum=0.001,  # m = 0.999
    cross_path=True, path_ema=True)
# different paths leave different candidates without gradient
find_unused_parameters = True
custom_hooks = [dict(type='pinas_mm.FiniteLossHook'), dict(type='pinas_mm.RNGStateHook')]
