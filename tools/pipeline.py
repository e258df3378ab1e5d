"""The main job: unlabelled images -> searched backbone -> Mask R-CNN and DeepLabV3.

Every stage is a real run of the same tools and configs a GPU user runs; only the
schedule, sizes and data root differ (the tiny space and the built-in tiny datasets):

  1 datasets   tools/dataset_converters/make_tiny_datasets.py
  2 supernet   tools/train.py  configs/pinas/pinas_tiny-space_...          (Pi-NAS, no labels)
  3 probe      tools/train.py  configs/linear_probe/..._tiny-in.py          (supernet linear probe)
  4 search     tools/search.py configs/search/search-evolution_..._tiny-in.py
  5 export     tools/export_subnet.py --from-search
  6 det        tools/train.py  configs/mask_rcnn/..._tiny-coco.py           (+ random-init baseline)
  7 seg        tools/train.py  configs/deeplabv3/..._tiny-cityscapes-128x256.py (+ random init)
  8 report     <work_dir>/report.md

    python tools/pipeline.py [--work-dir work_dirs/pipeline] [--data-root data/tiny]
Rerunning continues: a stage whose outputs exist is skipped.
"""
import argparse
import functools
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
CFG = dict(
    supernet='configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py',
    probe='configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py',
    search='configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
    det='configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py',
    seg='configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py',
)
PROGRESS = re.compile(r'(Epoch\(|Iter\(|Search:|search |resumed|Saving checkpoint)')


@functools.lru_cache(maxsize=None)
def last_checkpoint(config):
    """File name of the checkpoint a config's run ends with (epoch_N.pth / iter_N.pth)."""
    from mmengine.config import Config
    train_cfg = Config.fromfile(osp.join(ROOT, config), import_custom_modules=False).train_cfg
    if 'max_epochs' in train_cfg:
        return f'epoch_{train_cfg.max_epochs}.pth'
    return f'iter_{train_cfg.max_iters}.pth'


class Pipeline:

    def __init__(self, work_dir, data_root, baseline=True):
        self.work_dir = osp.abspath(work_dir)
        self.data_root = osp.abspath(data_root)
        self.baseline = baseline
        self.rows = []
        os.makedirs(self.work_dir, exist_ok=True)

    def path(self, *parts):
        return osp.join(self.work_dir, *parts)

    # ---- running one tool ------------------------------------------------------------
    def run(self, name, cmd, done_file):
        """Run a tool unless ``done_file`` exists; log to <stage>/run.log, show progress."""
        stage_dir = self.path(name)
        os.makedirs(stage_dir, exist_ok=True)
        shown = ' '.join(osp.relpath(c, ROOT) if osp.isabs(c) and c.startswith(ROOT)
                         else c for c in cmd)
        if osp.exists(done_file):
            print(f'[{name}] done before, skipped: {osp.relpath(done_file, self.work_dir)}')
            self.rows.append(dict(stage=name, command=shown, seconds=None))
            return
        print(f'[{name}] $ {shown}', flush=True)
        start = time.time()
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
                   PYTHONWARNINGS='ignore')
        with open(osp.join(stage_dir, 'run.log'), 'w') as log:
            proc = subprocess.Popen([PY, *cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            for line in proc.stdout:
                log.write(line)
                if PROGRESS.search(line):
                    print(f'  [{name}] {line.rstrip()[-150:]}', flush=True)
            proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f'[{name}] failed (exit {proc.returncode}); see '
                             f'{osp.join(stage_dir, "run.log")}')
        seconds = time.time() - start
        print(f'[{name}] finished in {seconds:.0f} s', flush=True)
        self.rows.append(dict(stage=name, command=shown, seconds=round(seconds)))

    def train(self, name, config, done_name, *opts):
        work = self.path(name)
        self.run(name, ['tools/train.py', config, '--work-dir', work, '--cfg-options', *opts],
                 osp.join(work, done_name))
        return work

    # ---- the stages ------------------------------------------------------------------
    def __call__(self):
        t0 = time.time()
        d = self.data_root
        self.run('1_datasets', ['tools/dataset_converters/make_tiny_datasets.py', '--out', d],
                 osp.join(d, 'cityscapes', '.pinas_tiny_stamp.json'))
        sup_ckpt, probe_ckpt = last_checkpoint(CFG['supernet']), last_checkpoint(CFG['probe'])
        sup = self.train('2_supernet', CFG['supernet'], sup_ckpt,
                         f'train_dataloader.dataset.data_root={d}/imagenet/')
        probe = self.train('3_probe', CFG['probe'], probe_ckpt,
                           f'model.backbone.init_cfg.checkpoint={sup}/{sup_ckpt}',
                           f'train_dataloader.dataset.data_root={d}/imagenet/',
                           f'val_dataloader.dataset.data_root={d}/imagenet/',
                           f'test_dataloader.dataset.data_root={d}/imagenet/')
        search = self.path('4_search')
        self.run('4_search', ['tools/search.py', CFG['search'], '--checkpoint',
                              f'{probe}/{probe_ckpt}', '--work-dir', search, '--cfg-options',
                              f'train_dataloader.dataset.data_root={d}/imagenet/',
                              f'train_cfg.scorer.dataloader.dataset.data_root={d}/imagenet/'],
                 osp.join(search, 'best_arch.yaml'))
        from pinas_mm.space import Arch  # imports all of pinas_mm: only when needed
        arch = str(Arch.from_file(osp.join(search, 'best_arch.yaml')))
        export = self.path('5_export')
        # file names written by pinas_mm.export.export_subnet, the checkpoint last
        arch_file = osp.join(export, f'{arch}.yaml')
        backbone = osp.join(export, f'pinas_tiny_{arch}_backbone.pth')
        self.run('5_export', ['tools/export_subnet.py', f'{sup}/{sup_ckpt}', '--from-search',
                              search, '--out-dir', export, '--space', 'tiny',
                              '--recalibrate', CFG['search'], '--recal-batches', '10',
                              '--cfg-options',
                              f'train_dataloader.dataset.data_root={d}/imagenet/'],
                 backbone)
        pretrained = [f'model.backbone.arch={arch_file}',
                      'model.backbone.init_cfg.type=Pretrained',
                      'model.backbone.init_cfg.prefix=backbone.',
                      f'model.backbone.init_cfg.checkpoint={backbone}']
        random_init = [f'model.backbone.arch={arch_file}', 'model.backbone.init_cfg=None']
        det_data = [f'train_dataloader.dataset.data_root={d}/coco/',
                    f'val_dataloader.dataset.data_root={d}/coco/',
                    f'test_dataloader.dataset.data_root={d}/coco/',
                    f'val_evaluator.ann_file={d}/coco/annotations/instances_val2017.json',
                    f'test_evaluator.ann_file={d}/coco/annotations/instances_val2017.json']
        seg_data = [f'{k}.dataset.data_root={d}/cityscapes/'
                    for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
        runs = [('6_det', 'det', det_data, pretrained), ('7_seg', 'seg', seg_data, pretrained)]
        if self.baseline:
            runs += [('6_det_random-init', 'det', det_data, random_init),
                     ('7_seg_random-init', 'seg', seg_data, random_init)]
        for name, task, data, init in runs:
            self.train(name, CFG[task], last_checkpoint(CFG[task]), *data, *init)
        self.report(arch, arch_file, backbone, time.time() - t0)

    # ---- the report ------------------------------------------------------------------
    def metrics(self, name):
        """The last logged value of each metric of a run (mmengine's scalars.json)."""
        from pinas_mm.analysis import last_scalars
        return {k: v for k, v in last_scalars(self.path(name)).items()
                if '/' in k or k in ('mIoU', 'aAcc', 'mAcc')}

    def report(self, arch, arch_file, backbone, seconds):
        from pinas_mm.models.complexity import arch_complexity
        flops, params = arch_complexity(arch, 'tiny', 224, 1000)
        keys = dict(probe=['accuracy/top1'], det=['coco/bbox_mAP', 'coco/segm_mAP',
                                                  'coco/bbox_mAP_50'],
                    seg=['mIoU', 'aAcc'])
        lines = ['# pinas_mm pipeline report', '',
                 f'Chosen arch: `{arch}` (tiny space), {flops / 1e9:.3f} GFLOPs and '
                 f'{params / 1e6:.2f} M params at 224x224 with a 1000-class head.', '',
                 '| stage | metrics | seconds | command |', '|---|---|---|---|']
        for row in self.rows:
            m = self.metrics(row['stage'])
            kind = row['stage'].split('_')[1] if '_' in row['stage'] else ''
            shown = ', '.join(f'{k} {m[k]:.4g}' for k in keys.get(kind, []) if k in m)
            if row['stage'] == '4_search':
                res = json.load(open(self.path('4_search', 'results.json')))
                best = max(r['score'] for r in res)
                shown = f'{len(res)} archs evaluated, best linear-probe top-1 {best:.4g}'
            lines.append(f"| {row['stage']} | {shown or '-'} | {row['seconds'] or '-'} | "
                         f"`{row['command']}` |")
        if self.baseline:
            lines += ['', '## Searched, Pi-NAS-inherited backbone vs random init', '',
                      '| task | metric | inherited | random init | difference |',
                      '|---|---|---|---|---|']
            for task, key in (('det', 'coco/bbox_mAP'), ('det', 'coco/segm_mAP'),
                              ('seg', 'mIoU'), ('seg', 'aAcc')):
                stage = '6_det' if task == 'det' else '7_seg'
                a = self.metrics(stage).get(key)
                b = self.metrics(f'{stage}_random-init').get(key)
                if a is not None and b is not None:
                    lines.append(f'| {task} | {key} | {a:.4g} | {b:.4g} | {a - b:+.4g} |')
        lines += ['', '## Artefacts', '',
                  f'- supernet: `{self.path("2_supernet", last_checkpoint(CFG["supernet"]))}`',
                  f'- linear probe: `{self.path("3_probe", last_checkpoint(CFG["probe"]))}`',
                  f'- search results: `{self.path("4_search", "results.csv")}`',
                  f'- search plots: `{self.path("4_search", "score_vs_flops.png")}`, '
                  f'`{self.path("4_search", "best_vs_evaluations.png")}`',
                  f'- arch file: `{arch_file}`', f'- backbone checkpoint: `{backbone}`',
                  f'- detection / segmentation runs: `{self.path("6_det")}`, '
                  f'`{self.path("7_seg")}`', '',
                  f'Total wall time of this invocation: {seconds:.0f} s.']
        out = self.path('report.md')
        with open(out, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        print('\n'.join(lines))
        print(f'\nreport: {out}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/pipeline')
    parser.add_argument('--data-root', default='data/tiny')
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the random-init downstream runs')
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    Pipeline(args.work_dir, args.data_root, baseline=not args.no_baseline)()


if __name__ == '__main__':
    main()
