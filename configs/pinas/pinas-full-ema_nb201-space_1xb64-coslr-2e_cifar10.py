# Ablation of pinas_nb201-space_1xb64-coslr-2e_cifar10.py: MoCo-style teacher, the EMA of
# the whole encoder every step (all candidates of every edge, sampled or not) instead of
# Pi-NAS's path-wise mean teacher. Cross-path learning, queue, schedule and seed as there.
#   python tools/train.py configs/pinas/pinas-full-ema_nb201-space_1xb64-coslr-2e_cifar10.py
_base_ = './pinas_nb201-space_1xb64-coslr-2e_cifar10.py'
model = dict(path_ema=False)
