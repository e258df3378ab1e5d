import math

from mmengine.hooks import Hook

from pinas_mm.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN/inf loss, naming the iteration and the terms.

    Runs every iteration (one scalar sync); the checkpoints saved before stay valid.
    """
    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        values = {k: float(v.detach()) for k, v in outputs.items()
                  if 'loss' in k and hasattr(v, 'numel') and v.numel() == 1}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
                f'{bad}. Training stopped; resume from the last checkpoint with a lower '
                f'learning rate or check the data.')


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the python / numpy / torch RNG states in each checkpoint and restore them on
    resume, so a resumed run draws the same augmentations as an uninterrupted one (the
    sampler and the path sampling are already seeded by epoch / step)."""
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        import random

        import numpy as np
        import torch
        np_state = np.random.get_state()
        checkpoint['rng_state'] = dict(
            python=random.getstate(),
            numpy=(np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
            torch=torch.get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        import random

        import numpy as np
        import torch
        state = checkpoint.get('rng_state')
        if not state or not runner._resume:
            return
        random.setstate(state['python'])
        name, keys, *rest = state['numpy']
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        torch.set_rng_state(state['torch'])
