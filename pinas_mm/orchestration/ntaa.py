"""NTAA per-domain adaptation: adapt a source supernet to a target domain, search there.

    python tools/adapt_domain.py CONFIG --source SUPERNET.pth [--work-dir DIR]
                                 [--stages prepare adapt probe search export]

NTAA (PAPERS.md, section 3): transfer weights AND architecture. The source supernet is
adapted to the target domain, and the architecture is searched on the target's own data
with the weights it was adapted with. CONFIG (an mmengine config, see configs/ntaa/)
describes the flow; every stage is a real tool run in a subprocess (by
:mod:`pinas_mm.orchestration.runner`, as the main job's stages), in its own folder of the
work_dir:

    prepare  (optional) derive the target dataset (``target.prepare``, e.g. classification
             crops of the tiny COCO data, see ``coco_crops``)
    adapt    (optional) ``tools/train.py adapt.config``: continued Pi-NAS training on the
             target images, ``load_from`` = the source supernet
    probe    (optional) ``tools/train.py probe.config``: the supernet linear probe on the
             target's labels, backbone ``init_cfg`` = the adapted supernet
    search   ``tools/search.py search.config --checkpoint <probe (or adapted) checkpoint>``
    export   ``tools/export_subnet.py <that checkpoint> --from-search <search work_dir>``
             (``export=dict(space=..., prefix=...)`` are passed on; ``export=None``: no
             export)

Each stage's ``cfg_options`` (dotted keys, as ``--cfg-options``) are merged into its
config, which is written to ``<work_dir>/<stage>/<stage>_config.py`` and run from there.
String values may name ``{source}``, ``{data_root}`` (``target.data_root``), ``{work_dir}``,
``{supernet}`` (the adapted checkpoint, or the source without an adapt stage) and
``{probe}`` (the probe checkpoint, or ``{supernet}`` without a probe stage).

A stage that finished writes ``<stage>/ntaa_stage.json`` (its command and outputs); a
rerun skips finished stages, resumes an interrupted training stage from its last
checkpoint and lets an interrupted search continue from its history, so rerunning the
same command after a stop resumes the flow. ``<work_dir>/ntaa_summary.json`` collects
the outputs (the exported arch file and backbone checkpoint).
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from pinas_mm.export import find_exports
from pinas_mm.orchestration.runner import StagedRun, run_tool, tool_command

STAGES = ('prepare', 'adapt', 'probe', 'search', 'export')
MARKER = 'ntaa_stage.json'


# ------------------------------------------------------------------ dataset derivation
def coco_crops(coco_root: str, out: str, margin: float = 0.15, size: int = 64,
               min_side: float = 8.0, splits=(('train2017', 'train'), ('val2017', 'val')),
               quality: int = 90) -> Dict[str, int]:
    """An ImageNet-format classification dataset of the objects of a COCO-format dataset.

    Every non-crowd instance becomes one ``size`` x ``size`` JPEG: its box grown by
    ``margin`` on each side, made square, clipped to the image, resized. Classes are the
    COCO category names (sorted: the label order of ``meta/*.txt``). Layout as the tiny
    ImageNet data (``{train,val}/<class>/<file>``, ``meta/{train,val}.txt``,
    ``meta/classes.txt``), so the tiny-ImageNet configs run on it with ``data_root``
    changed and ``num_classes`` set. Instances whose box side is below ``min_side`` pixels
    are not used; their number is returned (``skipped_<split>``) and printed.
    """
    import cv2
    import numpy as np
    counts: Dict[str, int] = {}
    meta_dir = osp.join(out, 'meta')
    os.makedirs(meta_dir, exist_ok=True)
    classes = None
    for src_split, dst_split in splits:
        ann_file = osp.join(coco_root, 'annotations', f'instances_{src_split}.json')
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'COCO annotations not found: {ann_file!r} (coco_root='
                                    f'{coco_root!r} should hold annotations/ and {src_split}/).')
        with open(ann_file) as f:
            coco = json.load(f)
        names = {c['id']: c['name'] for c in coco['categories']}
        if classes is None:
            classes = sorted(names.values())
        label = {n: i for i, n in enumerate(classes)}
        images = {im['id']: im for im in coco['images']}
        lines, skipped = [], 0
        for ann in sorted(coco['annotations'], key=lambda a: a['id']):
            if ann.get('iscrowd', 0):
                skipped += 1
                continue
            x, y, w, h = ann['bbox']
            if min(w, h) < min_side:
                skipped += 1
                continue
            im = images[ann['image_id']]
            img = cv2.imread(osp.join(coco_root, src_split, im['file_name']))
            if img is None:
                raise FileNotFoundError(f"Image of annotation {ann['id']} not readable: "
                                        f"{osp.join(coco_root, src_split, im['file_name'])!r}")
            side = max(w, h) * (1 + 2 * margin)
            cx, cy = x + w / 2, y + h / 2
            x0, y0 = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
            x1 = int(min(img.shape[1], round(cx + side / 2)))
            y1 = int(min(img.shape[0], round(cy + side / 2)))
            crop = cv2.resize(img[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            name = names[ann['category_id']]
            rel = f"{name}/{name}_{ann['id']:06d}.jpg"
            os.makedirs(osp.join(out, dst_split, name), exist_ok=True)
            cv2.imwrite(osp.join(out, dst_split, rel), np.ascontiguousarray(crop),
                        [cv2.IMWRITE_JPEG_QUALITY, quality])
            lines.append(f'{rel} {label[name]}')
        with open(osp.join(meta_dir, f'{dst_split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[dst_split], counts[f'skipped_{dst_split}'] = len(lines), skipped
        print(f'coco_crops: {dst_split}: {len(lines)} crops of {len(classes)} classes '
              f'{classes}, {skipped} instances not used (crowd or side < {min_side}px)')
    with open(osp.join(meta_dir, 'classes.txt'), 'w') as f:
        f.write('\n'.join(classes) + '\n')
    return counts


PREPARERS = dict(coco_crops=coco_crops)


# ------------------------------------------------------------------------------ driver
def _fill(value, variables: Dict[str, str]):
    if isinstance(value, str):
        try:
            return value.format(**variables)
        except KeyError as e:
            raise ValueError(f'Unknown placeholder {e} in {value!r}; known: '
                             f'{sorted(variables)}.') from None
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, variables) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, variables) for k, v in value.items()}
    return value


def _last_checkpoint(work_dir: str) -> Optional[str]:
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        ckpt = f.read().strip()
    return osp.abspath(ckpt) if ckpt and osp.isfile(ckpt) else None


def _failure(stage: str):
    def message(returncode: int, log_path: str) -> str:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        return (f'Stage {stage!r} failed (exit {returncode}); log {log_path}:\n{tail}')
    return message


class Flow(StagedRun):
    """The NTAA flow of one config as stages in ``work_dir``: each stage a tool run by the
    runner (:func:`~pinas_mm.orchestration.runner.run_tool`), skipped when its marker
    ``<stage>/ntaa_stage.json`` names outputs that exist."""

    def __init__(self, cfg, source: str, work_dir: str, log=print):
        super().__init__(work_dir, log)
        self.cfg = cfg
        self.source = osp.abspath(source)
        target = cfg.get('target') or {}
        self.vars = dict(source=self.source, work_dir=self.work_dir,
                         data_root=target.get('data_root', ''))
        self.vars['supernet'] = self.vars['probe'] = self.source

    # ---- bookkeeping -------------------------------------------------------------------
    def done(self, stage: str) -> Optional[Dict]:
        path = osp.join(self.stage_dir(stage), MARKER)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            info = json.load(f)
        paths = [v for v in info.get('outputs', {}).values() if isinstance(v, str)]
        return info if all(osp.exists(p) for p in paths) else None

    def finish(self, stage: str, outputs: Dict, command=None, seconds=0.0) -> Dict:
        info = dict(stage=stage, outputs=outputs, command=command,
                    seconds=round(seconds, 1))
        path = osp.join(self.stage_dir(stage), MARKER)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path + '.tmp', 'w') as f:
            json.dump(info, f, indent=1)
        os.replace(path + '.tmp', path)
        return info

    def stage_config(self, stage: str) -> str:
        from mmengine.config import Config
        spec = self.cfg[stage]
        if not osp.isfile(spec['config']):
            raise FileNotFoundError(f'{stage}.config not found: {spec["config"]!r}')
        cfg = Config.fromfile(spec['config'])
        options = _fill(dict(spec.get('cfg_options') or {}), self.vars)
        if options:
            cfg.merge_from_dict(options)
        os.makedirs(self.stage_dir(stage), exist_ok=True)
        path = osp.join(self.stage_dir(stage), f'{stage}_config.py')
        cfg.dump(path)
        return path

    def call(self, cmd: List[str], stage: str) -> None:
        """Run a tool; its output appended to ``<stage>/<stage>.log``.

        Raises:
            ToolFailed: (a RuntimeError) the tool failed; the message ends with the log's
                last 3000 characters.
        """
        self.log(f'[ntaa] {stage}: ' + ' '.join(cmd))
        run_tool(cmd, osp.join(self.stage_dir(stage), f'{stage}.log'), append=True,
                 failure=_failure(stage))

    # ---- stages ------------------------------------------------------------------------
    def prepare(self) -> Dict:
        spec = dict(self.cfg.target.prepare)
        kind = spec.pop('type')
        if kind not in PREPARERS:
            raise ValueError(f'Unknown target.prepare type {kind!r}; known: '
                             f'{sorted(PREPARERS)}.')
        out = self.vars['data_root']
        if not out:
            raise ValueError('target.prepare needs target.data_root (where it writes).')
        counts = PREPARERS[kind](out=out, **_fill(spec, self.vars))
        return dict(outputs=dict(data_root=osp.abspath(out)), counts=counts)

    def train(self, stage: str) -> Dict:
        config = self.stage_config(stage)
        cmd = tool_command('train.py', config, '--work-dir', self.stage_dir(stage))
        if _last_checkpoint(self.stage_dir(stage)):
            cmd.append('--resume')  # an interrupted run: continue from its last checkpoint
        self.call(cmd, stage)
        ckpt = _last_checkpoint(self.stage_dir(stage))
        if ckpt is None:
            raise RuntimeError(f'Stage {stage!r} saved no checkpoint in '
                               f'{self.stage_dir(stage)} (default_hooks.checkpoint?).')
        return dict(outputs=dict(checkpoint=ckpt), command=cmd)

    def search(self) -> Dict:
        config = self.stage_config('search')
        cmd = tool_command('search.py', config, '--checkpoint', self.vars['probe'],
                           '--work-dir', self.stage_dir('search'))
        self.call(cmd, 'search')
        best = osp.join(self.stage_dir('search'), 'best_arch.yaml')
        if not osp.isfile(best):
            raise RuntimeError(f'The search wrote no {best}.')
        return dict(outputs=dict(best_arch=best), command=cmd)

    def export(self) -> Dict:
        out_dir = self.stage_dir('export')
        cmd = tool_command('export_subnet.py', self.vars['probe'], '--from-search',
                           self.stage_dir('search'), '--out-dir', out_dir)
        spec = self.cfg.get('export') or {}
        for key in ('space', 'prefix'):  # default: inferred from the checkpoint
            if spec.get(key):
                cmd += [f'--{key}', str(spec[key])]
        self.call(cmd, 'export')
        return dict(outputs=find_exports(out_dir), command=cmd)

    # ---- the flow ----------------------------------------------------------------------
    def enabled(self, stage: str) -> bool:
        if stage == 'prepare':
            return bool((self.cfg.get('target') or {}).get('prepare'))
        if stage == 'export':
            return self.cfg.get('export', {}) is not None
        return bool(self.cfg.get(stage))

    def run(self, stages=STAGES) -> Dict:
        if not osp.isfile(self.source):
            raise FileNotFoundError(f'Source supernet not found: {self.source!r}')
        if not self.enabled('search') and ('search' in stages or 'export' in stages):
            raise ValueError('The config has no search stage (search=dict(config=...)).')
        summary = dict(source=self.source, work_dir=self.work_dir, stages={})
        last = max(STAGES.index(s) for s in stages)
        for stage in STAGES[:last + 1]:
            if not self.enabled(stage):
                continue
            info = self.done(stage)
            if info is not None:
                self.log(f'[ntaa] {stage}: done before, outputs {info["outputs"]}')
            elif stage not in stages:
                raise ValueError(f'Stage {stage!r} is needed but not finished and not in '
                                 f'--stages {list(stages)}.')
            else:
                start = time.time()
                if stage == 'prepare':
                    result = self.prepare()
                elif stage in ('adapt', 'probe'):
                    result = self.train(stage)
                else:
                    result = getattr(self, stage)()
                info = self.finish(stage, result['outputs'], result.get('command'),
                                   time.time() - start)
                self.log(f'[ntaa] {stage}: finished in {info["seconds"]} s, outputs '
                         f'{info["outputs"]}')
            if stage == 'adapt':
                self.vars['supernet'] = self.vars['probe'] = info['outputs']['checkpoint']
            elif stage == 'probe':
                self.vars['probe'] = info['outputs']['checkpoint']
            summary['stages'][stage] = info['outputs']
        path = osp.join(self.work_dir, 'ntaa_summary.json')
        with open(path, 'w') as f:
            json.dump(summary, f, indent=1)
        self.log(f'[ntaa] summary: {path}')
        return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='an NTAA flow config (configs/ntaa/)')
    parser.add_argument('--source', required=True, help='the source supernet checkpoint')
    parser.add_argument('--work-dir', help='default: ./work_dirs/<config name>')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES),
                        help='run only these stages and stop after the last of them '
                        '(earlier stages not named must be finished)')
    args = parser.parse_args(argv)
    from mmengine.config import Config
    if not osp.isfile(args.config):
        raise SystemExit(f'Config file not found: {args.config!r}')
    cfg = Config.fromfile(args.config)
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return Flow(cfg, args.source, work_dir).run(args.stages)


if __name__ == '__main__':
    main()
