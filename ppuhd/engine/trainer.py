"""The one iteration-based trainer, driven by the Task contract (``ppuhd/tasks/base.py``)."""
import contextlib
import datetime
import json
import os
import time
from typing import Dict, Optional

import numpy as np
import paddle
import yaml

from ..config import dump_config
from ..data.builder import build_dataset
from ..data.loader import build_loader
from ..data.samplers import ResumableBatchSampler
from ..metrics import CLS_HIGHER_IS_BETTER, HIGHER_IS_BETTER
from ..tasks.builder import build_task
from ..utils import dist
from ..utils.device import setup_device
from ..utils.fileio import atomic_write, atomic_write_text
from ..utils.logger import VisualDLWriter, get_logger
from ..utils.seed import get_rng_state, set_rng_state, set_seed
from . import checkpoint as ckpt
from .amp import Amp
from .ema import ModelEMA
from .evaluator import evaluate, metric_config
from .optim import build_lr_scheduler, build_optimizer, scaled_lr
from .step import TrainStep


class Trainer:
    """Trains ``cfg['task']`` for ``train.total_iters`` iterations (or ``train.epochs`` converted).

    Args:
        cfg: the resolved config.
        resume: None, 'auto' (newest valid checkpoint in the run's folder, if any) or a checkpoint path.
        force_resume: resume even when the checkpoint was written by a run of another identity
            (seed, batch size, accumulation, world size, total_iters, model; see ``checkpoint.run_identity``).
    """

    def __init__(self, cfg: dict, resume: Optional[str] = None, force_resume: bool = False):
        self.cfg, tcfg = cfg, cfg['train']
        dist.init_distributed()
        self.out_dir = cfg['output_dir']
        self.ckpt_dir = os.path.join(self.out_dir, 'checkpoints')
        self.log = get_logger(os.path.join(self.out_dir, 'train.log'))
        if dist.is_main_process():  # temporary files of writes a killed run never finished
            for folder in (self.out_dir, self.ckpt_dir):
                ckpt.remove_stale_temp_files(folder)
        setup_device(cfg.get('device', 'auto'), cfg.get('num_threads'))
        set_seed(cfg.get('seed', 0))
        self.task = build_task(cfg)
        self.train_set = build_dataset(cfg, 'train', self.task.model)
        self.val_set = build_dataset(cfg, 'val', self.task.model) if cfg['data'].get('val') else None
        self.batch_size, self.accum = cfg['data']['batch_size'], tcfg.get('accum_steps', 1)
        global_batch = self.batch_size * dist.world_size() * self.accum
        self.iters_per_epoch = max(1, len(self.train_set) // global_batch)
        self.total_iters = tcfg.get('total_iters') or int(tcfg['epochs'] * self.iters_per_epoch)
        base_lr = scaled_lr(cfg['optimizer'], global_batch)
        self.lr = build_lr_scheduler(cfg['lr_scheduler'], base_lr, self.total_iters, self.iters_per_epoch)
        self.optimizer = build_optimizer(cfg['optimizer'], self.task.model, self.lr, tcfg.get('grad_clip'))
        self.amp = Amp(tcfg.get('amp'))
        self.ema = ModelEMA(self.task.model, tcfg['ema_decay']) if tcfg.get('ema_decay') else None
        if dist.world_size() > 1:
            self.task.wrap_model(paddle.DataParallel(self.task.model))
        self.train_step = TrainStep(self.task, self.optimizer, self.amp, self.ema)
        self.iter, self.nonfinite, self.best = 0, 0, None
        self.identity = ckpt.run_identity(cfg, self.batch_size, self.accum, dist.world_size(), self.total_iters)
        self._resume(resume, force_resume)
        if dist.is_main_process():
            self._write_config()
        self.vdl = VisualDLWriter(os.path.join(self.out_dir, 'vdl'))
        self.log.info('%d training samples, %d iterations (%d per epoch), global batch %d, %d rank(s), device %s, '
                      'lr %.3e', len(self.train_set), self.total_iters, self.iters_per_epoch, global_batch,
                      dist.world_size(), paddle.get_device(), base_lr)

    # ----------------------------------------------------------------- loop
    def train(self) -> Dict[str, float]:
        tcfg = self.cfg['train']
        loader = iter(self._train_loader())
        self.task.train()
        tic, start_iter, window = time.time(), self.iter, []
        while self.iter < self.total_iters:
            losses = self._step([next(loader) for _ in range(self.accum)])
            self.iter += 1
            self.lr.step()
            if losses is not None:
                window.append(losses)
            if self.iter % tcfg.get('log_interval', 20) == 0 or self.iter == self.total_iters:
                self._log_train(window, tic, start_iter)
                window = []
            if self._due(tcfg.get('eval_interval')):
                self.validate()
            if self._due(tcfg.get('save_interval')):
                self.save()
        self._save_weights('final_model.pdparams')
        self.vdl.close()
        return self.best or {}

    def _due(self, interval: Optional[int]) -> bool:
        return bool(interval) and (self.iter % interval == 0 or self.iter == self.total_iters)

    def _train_loader(self):
        sampler = ResumableBatchSampler(len(self.train_set), self.batch_size, self.total_iters * self.accum,
                                        start_step=self.iter * self.accum, seed=self.cfg.get('seed', 0),
                                        world_size=dist.world_size(), rank=dist.rank(),
                                        repeats=self.cfg['data'].get('repeated_aug', 1))
        return build_loader(self.train_set, sampler, self.cfg['data'].get('num_workers', 0))

    def _step(self, micro_batches) -> Optional[Dict[str, float]]:
        """One optimizer step over ``accum`` micro-batches; None when the loss was not finite."""
        totals = self.train_step(micro_batches)
        if totals is None:
            return self._skip_step()
        self.nonfinite = 0
        return totals

    def _skip_step(self) -> None:
        self.nonfinite += 1
        limit = self.cfg['train'].get('max_nonfinite', 5)
        self.log.warning('Non-finite loss at iteration %d: step skipped (%d in a row, limit %d)',
                         self.iter + 1, self.nonfinite, limit)
        if self.nonfinite >= limit:
            raise FloatingPointError(
                f'The loss was NaN/Inf in {self.nonfinite} consecutive iterations (up to {self.iter + 1}); '
                f'stopping. Lower optimizer.lr, set train.grad_clip, or check the data. The last good '
                f'checkpoint is in {self.ckpt_dir}')

    def _log_train(self, window, tic, start_iter) -> None:
        if not window:
            return
        means = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
        elapsed = time.time() - tic
        done = self.iter - start_iter
        imgs = done * self.batch_size * self.accum * dist.world_size() / max(elapsed, 1e-9)
        eta = datetime.timedelta(seconds=int(elapsed / done * (self.total_iters - self.iter)))
        terms = ' '.join(f'{k} {v:.4f}' for k, v in means.items())
        self.log.info('iter %d/%d lr %.3e %s | %.2f img/s eta %s', self.iter, self.total_iters,
                      self.optimizer.get_lr(), terms, imgs, eta)
        for key, value in means.items():
            self.vdl.scalar(f'train/{key}', value, self.iter)
        self.vdl.scalar('train/lr', self.optimizer.get_lr(), self.iter)

    # ----------------------------------------------------------- evaluation
    @contextlib.contextmanager
    def _eval_weights(self):
        """Evaluate the EMA weights when EMA is on."""
        if not self.ema:
            yield
            return
        backup = {k: v.clone() for k, v in self.task.model.state_dict().items()}
        self.task.model.set_state_dict(self.ema.state_dict())
        try:
            yield
        finally:
            self.task.model.set_state_dict(backup)

    def validate(self) -> Dict[str, float]:
        if self.val_set is None:
            return {}
        ecfg = self.cfg['eval']
        kept = []

        def keep(name, arrays, values):
            if len(kept) < ecfg.get('log_images', 2):
                kept.append((name, arrays))
        with self._eval_weights():
            metrics = evaluate(self.task, self.val_set, metric_config(ecfg, self.task), on_image=keep,
                               batch_size=self.cfg['data'].get('eval_batch_size', self.batch_size))
            self._update_best(metrics)
        self.log.info('eval @ iter %d: %s', self.iter, ' '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
        for key, value in metrics.items():
            self.vdl.scalar(f'eval/{key}', value, self.iter)
        for name, arrays in kept:
            for role in ('input', 'pred', 'target'):
                img = (np.clip(arrays[role], 0, 1) * 255).round().astype('uint8')
                self.vdl.image(f'eval/{name}/{role}', img, self.iter)
        return metrics

    def _update_best(self, metrics: Dict[str, float]) -> None:
        name = self.cfg['train'].get('best_metric')
        if not name:
            raise KeyError('train.best_metric is not set: name the eval metric that picks best_model.pdparams '
                           '(configs/_base_/tasks/image.yml sets psnr, classification.yml top1)')
        if name not in metrics:
            raise KeyError(f"train.best_metric '{name}' is not computed; eval.metrics gives {sorted(metrics)}")
        sign = 1 if {**HIGHER_IS_BETTER, **CLS_HIGHER_IS_BETTER}.get(name, True) else -1
        if self.best is None or sign * metrics[name] > sign * self.best['value']:
            self.best = {'metric': name, 'value': metrics[name], 'iter': self.iter, 'metrics': metrics}
            self._save_weights('best_model.pdparams')
            if dist.is_main_process():
                atomic_write_text(os.path.join(self.out_dir, 'best.json'), json.dumps(self.best, indent=2))
            self.log.info('new best %s %.4f at iter %d', name, metrics[name], self.iter)

    # ---------------------------------------------------------- checkpoints
    def _save_weights(self, filename: str) -> None:
        """Model weights only (the EMA ones inside ``_eval_weights``), for eval/infer/export."""
        if not dist.is_main_process():
            return
        path = os.path.join(self.out_dir, filename)
        try:
            ckpt.atomic_save(self.task.model.state_dict(), path)
        except OSError as err:
            newest = ckpt.list_checkpoints(self.ckpt_dir)
            kept = f'the last checkpoint {newest[0][1]} is intact' if newest else 'no checkpoint was written yet'
            raise type(err)(err.errno, f'Cannot write {path}: {err.strerror or err}; nothing partial was left and '
                            f'{kept}. Free disk space and continue with --resume auto') from err

    def save(self) -> None:
        if not dist.is_main_process():
            return
        state = {'model': self.task.model.state_dict(), 'optimizer': self.optimizer.state_dict(),
                 'scheduler': self.lr.state_dict(), 'ema': self.ema.state_dict() if self.ema else None,
                 'scaler': self.amp.state_dict(), 'iter': self.iter, 'rng': get_rng_state(),
                 'data_order': {'seed': self.cfg.get('seed', 0), 'next_step': self.iter * self.accum},
                 'best': self.best, 'nonfinite': self.nonfinite, 'run': self.identity}
        ckpt.save_checkpoint(state, self.ckpt_dir, self.iter, self.cfg['train'].get('keep_last', 2))
        self.log.info('saved checkpoint @ iter %d', self.iter)

    def _write_config(self) -> None:
        """``config.yml`` = this run's resolved config; a different one of an earlier run is kept beside it."""
        path = os.path.join(self.out_dir, 'config.yml')
        if self.iter and os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                old = yaml.safe_load(f)
            if old != self.cfg:
                kept = os.path.join(self.out_dir, f'config.before_iter_{self.iter:08d}.yml')
                os.replace(path, kept)
                self.log.warning('the config changed since the checkpoint (%s); the earlier one is kept as %s',
                                 ', '.join(_changed_keys(old, self.cfg)) or 'structure', kept)
        atomic_write(path, lambda tmp: dump_config(self.cfg, tmp))

    def _resume(self, resume: Optional[str], force: bool = False) -> None:
        if not resume:
            return
        if resume == 'auto':
            found = ckpt.find_resumable(self.ckpt_dir)
            if found is None:
                self.log.info('--resume auto: no checkpoint in %s, starting from scratch', self.ckpt_dir)
                return
            path, state = found
        else:
            path, state = resume, ckpt.load_checkpoint(resume)
        if force and state.get('run') != self.identity:
            self.log.warning('%s: resuming %s although the run changed (%s in the checkpoint, %s now)',
                             ckpt.FORCE_RESUME_FLAG, path, state.get('run'), self.identity)
        elif not force:
            ckpt.check_run_identity(state.get('run'), self.identity, path)
        self.task.model.set_state_dict(state['model'])
        self.optimizer.set_state_dict(state['optimizer'])
        self.lr.set_state_dict(state['scheduler'])
        if self.ema and state.get('ema'):
            self.ema.set_state_dict(state['ema'])
        self.amp.set_state_dict(state.get('scaler'))
        set_rng_state(state['rng'])
        self.iter, self.best, self.nonfinite = state['iter'], state.get('best'), state.get('nonfinite', 0)
        self.log.info('resumed from %s at iteration %d', path, self.iter)


def _changed_keys(old, new, prefix: str = ''):
    """Dotted keys whose values differ between two configs."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [prefix.rstrip('.') or '<root>']
    return [k for key in sorted(set(old) | set(new), key=str)
            for k in _changed_keys(old.get(key), new.get(key), f'{prefix}{key}.')]


def train(cfg: dict, resume: Optional[str] = None, force_resume: bool = False) -> Trainer:
    """Build a Trainer, run it, return it."""
    trainer = Trainer(cfg, resume, force_resume)
    trainer.train()
    return trainer
