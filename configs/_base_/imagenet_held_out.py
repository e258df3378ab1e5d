# The one definition of the held-out part of the ImageNet train split, shared by the
# supernet linear probe (trains on the rest) and the search (scores candidates on the
# held-out part): the search never scores on ImageNet val, whose numbers are reported.
# As SPOS (Guo et al., 2020) holds out 50,000 train images: 4% of every class, ~51k
# images, chosen by file name and seed (pinas_mm.HeldOutSplit; deterministic).
imagenet_held_out_fraction = 0.04
imagenet_held_out_seed = 0
