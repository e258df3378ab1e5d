# The one definition of the held-out part of the CIFAR-10 train split, shared by the linear
# probe (trains on the rest) and the search (scores candidates on the held-out part), so
# the search never scores on the val split whose numbers are reported (val = CIFAR-10 test
# photos). pinas_mm.HeldOutSplit holds out this fraction of every class, chosen by file
# name and seed (deterministic, independent of listing order).
cifar10_root = '../shared/data/cifar10/'
cifar10_held_out_fraction = 0.1  # 100 of the 1,000 train photos per class
cifar10_held_out_seed = 0
