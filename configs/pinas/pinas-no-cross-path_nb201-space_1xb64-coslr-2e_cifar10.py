# Ablation of pinas_nb201-space_1xb64-coslr-2e_cifar10.py: no cross-path learning. Each
# student path is paired with the teacher key of the same path (MoCo on a random path);
# everything else (paths differing on every edge, path-wise mean teacher, queue, schedule,
# seed) is the same.
#   python tools/train.py configs/pinas/pinas-no-cross-path_nb201-space_1xb64-coslr-2e_cifar10.py
_base_ = './pinas_nb201-space_1xb64-coslr-2e_cifar10.py'
model = dict(cross_path=False)
