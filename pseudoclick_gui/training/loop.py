"""The training loop behind ``pseudoclick train``: resumable, checkpointing, DDP-ready.

One step (RITM's iterative training, plus what PseudoClick needs):
1. a batch of crops with RITM random clicks (``data.py``);
2. 0..``max_iter`` iterative steps without gradients, each adding one click at the model's own error; with
   probability ``iter_pseudo_prob`` a step also runs the inference-time pseudo-click pass (a pseudo click from
   its own error maps, fed through the pseudo channels), so previous masks look like the ones seen in use;
   those pseudo clicks stay inputs for the later steps (``pseudo_lifetime="object"``) or leave at the next
   click, the previous mask keeping what they did (``"step"``: as the app does on colour images);
3. the final pass: with probability ``pseudo_prob`` a pseudo click is first proposed without gradients, from
   the model's own error maps (sometimes right, sometimes wrong) or, with probability ``oracle_prob``, from
   the true error maps, and the final pass sees it; otherwise the final pass has no pseudo click, which is
   exactly the pass whose error maps make proposals at inference;
4. loss: NFL on mask, FP and FN, with FP/FN targets from the final pass's own (detached) prediction
   (``err_loss="bce"``: plain binary cross-entropy on FP and FN instead, whose probabilities stay calibrated,
   so that "error probability >= 0.5" means what the proposal rule assumes; NFL compresses them).

``trainable="pseudo"`` trains only the pseudo-click encoder and the error head, every other weight and
BatchNorm statistic frozen: the human-click segmentation stays what it was (the grey and medical behaviour with
it), and the run spends its steps on what pseudo clicks need — an error head whose proposals are right, and a
network that listens to pseudo clicks as much as they deserve.

Checkpoints: ``OUT/last.pt`` (everything needed to resume exactly: model, optimizer, step, RNG states, config)
every ``checkpoint_minutes`` and on SIGINT/SIGTERM; ``OUT/model_stepNNNNNN.pt`` (fp16 engine checkpoint) at
each save. ``OUT/log.csv`` gets losses and throughput.
"""

from __future__ import annotations

import csv
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..engine.checkpoint import save_checkpoint
from ..engine.encoding import disk_maps
from ..engine.network import NetConfig, PseudoClickNet
from ..engine.pseudo import RANKS, SIGNS
from ..engine.rule import ProposalRule
from .clicks import add_error_clicks, oracle_pseudo_clicks, own_pseudo_clicks
from .data import ClickSegStream, CropConfig, DatasetSpec
from .losses import error_loss, normalized_focal_loss


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    batch: int = 8
    crop: int = 256
    lr: float = 5e-4
    backbone_lr_mult: float = 0.1
    total_steps: int = 60000  # cosine schedule length (lr -> 0.1 x lr at the end)
    warmup_steps: int = 300
    max_steps: int | None = None  # stop after this step (default: total_steps)
    minutes: float | None = None  # stop after this wall time
    checkpoint_minutes: float = 5.0
    workers: int = 1
    threads: int = 2
    seed: int = 0
    lambdas: tuple[float, float, float] = (1.0, 1.0, 1.0)
    max_iter: int = 3
    iter_pseudo_prob: float = 0.6
    pseudo_threshold: float = 0.4
    pseudo_signs: str = "both"  # which of its own error maps may give the model pseudo clicks (as at inference)
    pseudo_rank: str = "area"  # how its own proposals pick a region (as ``Session.proposal_rank``)
    pseudo_min_fraction: float = 0.0  # no own proposal from a region smaller than this fraction of the mask
    pseudo_source: str = "errors"  # where its own pseudo clicks come from: "errors" or "islands+errors" (engine/rule.py)
    trainable: str = "all"  # "all"; "pseudo": only the pseudo-click encoder and the error head learn; "err": the error head
    err_loss: str = "nfl"  # loss of the FP/FN heads: "nfl" or "bce"
    pseudo_prob: float = 0.5
    oracle_prob: float = 0.3
    pseudo_lifetime: str = "object"  # "step": pseudo clicks leave the inputs at the next (simulated) human click
    zoom_prob: float = 0.6
    grey_prob: float = 0.15
    paste_prob: float = 0.2
    nest_prob: float = 0.0  # nested paste: the object, shrunk, inside another training object
    synth_prob: float = 0.0  # synthetic grey tissue crops (training/synthetic.py)
    freeze_bn: str = "backbone"  # whose BatchNorm statistics stay as they are: "backbone" or "all" (fine-tuning)
    eval_data: str | None = None  # a 2-D set for the periodic quick evaluation (rank 0)
    eval_grey: str | None = None  # a grey cross-domain set: mIoU@3 of human clicks in the same evaluation
    eval_minutes: float = 20.0
    eval_samples: int = 20
    init: str | None = None  # engine checkpoint to start from (instead of ImageNet weights)
    amp: bool = False  # bfloat16 autocast of the forward passes (CUDA; CPUs with AMX); losses stay float32
    net: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.pseudo_signs not in SIGNS:
            raise ValueError(f"pseudo_signs must be one of {SIGNS}, not {self.pseudo_signs!r}")
        if self.pseudo_rank not in RANKS:
            raise ValueError(f"pseudo_rank must be one of {RANKS}, not {self.pseudo_rank!r}")
        if self.pseudo_source not in ("errors", "islands+errors"):
            raise ValueError(f"pseudo_source must be 'errors' or 'islands+errors', not {self.pseudo_source!r}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {tuple(TRAINABLE)}, not {self.trainable!r}")
        if self.freeze_bn not in ("backbone", "all"):
            raise ValueError(f"freeze_bn must be 'backbone' or 'all', not {self.freeze_bn!r}")
        if self.pseudo_lifetime not in ("object", "step"):
            raise ValueError(f"pseudo_lifetime must be 'object' or 'step', not {self.pseudo_lifetime!r}")
        if self.err_loss not in ("nfl", "bce"):
            raise ValueError(f"err_loss must be 'nfl' or 'bce', not {self.err_loss!r}")


# parameter-name prefixes that learn; None: all of them
TRAINABLE: dict[str, tuple[str, ...] | None] = {"all": None, "pseudo": ("pseudo_encoder.", "err_head."),
                                                 "err": ("err_head.",)}


def trainable_modules(model: torch.nn.Module, trainable: str) -> list[torch.nn.Module]:
    """The top-level modules that learn under ``trainable`` (all of them for ``"all"``)."""
    prefixes = TRAINABLE[trainable]
    return [m for n, m in model.named_children() if prefixes is None or any(p.startswith(n + ".") for p in prefixes)]


def set_trainable(model: PseudoClickNet, trainable: str) -> None:
    """``requires_grad`` per ``trainable``; the frozen parameters get no gradient and no optimizer state."""
    prefixes = TRAINABLE[trainable]
    for n, p in model.named_parameters():
        p.requires_grad_(prefixes is None or n.startswith(prefixes))


def _append_row(path: Path, row: dict) -> None:
    """Append ``row`` to a CSV file; when it brings new columns, the file is rewritten (atomically) with the
    wider header, older rows keeping empty cells there."""
    old: list[str] = []
    rows: list[dict] = []
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            old = list(reader.fieldnames or [])
            rows = list(reader)
    if old and set(row) <= set(old):
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=old).writerow(row)
        return
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=old + [k for k in row if k not in old])
        w.writeheader()
        w.writerows(rows + [row])
    os.replace(tmp, path)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.total_steps - cfg.warmup_steps))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))


def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _is_dist() else 0


def build_optimizer(model: PseudoClickNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the parameters that learn (``set_trainable`` first); the backbone at ``backbone_lr_mult``."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    back = [p for n, p in params if n.startswith("backbone.")]
    rest = [p for n, p in params if not n.startswith("backbone.")]
    groups = []
    if back:
        groups.append({"params": back, "lr": cfg.lr * cfg.backbone_lr_mult, "base_lr": cfg.lr * cfg.backbone_lr_mult})
    groups.append({"params": rest, "lr": cfg.lr, "base_lr": cfg.lr})
    return torch.optim.Adam(groups, betas=(0.9, 0.999))


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, overrides: set[str] = frozenset()):
        """``resume``: continue ``OUT/last.pt`` with its saved recipe; only the stopping criteria, workers,
        threads and the names in ``overrides`` (e.g. ``{"total_steps"}``) are taken from ``cfg``."""
        self.cfg = cfg
        self.out = Path(cfg.out)
        torch.set_num_threads(cfg.threads)
        self._owns_group = False
        if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not _is_dist():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            self._owns_group = True
        self.rank = _rank()
        self.world = dist.get_world_size() if _is_dist() else 1
        self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0
        state = None
        if resume and (self.out / "last.pt").is_file():
            state = torch.load(self.out / "last.pt", map_location="cpu", weights_only=True)
            saved = state["train_config"]
            saved["lambdas"] = tuple(saved["lambdas"])
            # recipe keys this version no longer knows are dropped (they held their defaults in every kept run)
            saved = {k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__}
            # keep the saved recipe; allow the stopping criteria and output to change on resume
            for k in ("max_steps", "minutes", "out", "workers", "threads", "checkpoint_minutes", "eval_data", "eval_grey", "amp",
                      "eval_minutes", "eval_samples", *overrides):
                saved[k] = getattr(cfg, k)
            self.cfg = cfg = TrainConfig(**saved)
        torch.manual_seed(cfg.seed)  # the same initial decoder weights on every rank and every fresh run
        self.model = PseudoClickNet(NetConfig.from_dict(cfg.net), pretrained_backbone=state is None and cfg.init is None)
        if cfg.init and state is None:
            from ..engine.checkpoint import read_checkpoint

            sd = read_checkpoint(cfg.init)["state_dict"]
            self.model.load_state_dict({k: v.float() for k, v in sd.items()})
        self.model.to(self.device).to(memory_format=torch.channels_last)
        set_trainable(self.model, cfg.trainable)
        self.opt = build_optimizer(self.model, cfg)
        self.prng = random.Random(cfg.seed * 1000 + self.rank)
        self.nrng = np.random.default_rng([cfg.seed, self.rank, 17])
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.samples_seen = int(state["samples_seen"])
            self.train_seconds = float(state["train_seconds"])
            torch.set_rng_state(state["torch_rng"])
            self.prng.setstate(_to_tuple(state["python_rng"]))
            self.nrng.bit_generator.state = state["numpy_rng"]
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        specs = [DatasetSpec.parse(s) for s in cfg.data]
        crop = CropConfig(size=cfg.crop, zoom_prob=cfg.zoom_prob, grey_prob=cfg.grey_prob, paste_prob=cfg.paste_prob,
                         nest_prob=cfg.nest_prob, synth_prob=cfg.synth_prob)
        # the data stream's seed depends on the step so a resumed run continues deterministically
        self.stream = ClickSegStream(specs, crop, cfg.batch, seed=cfg.seed, rank=self.rank, start_batch=self.step)
        self._stop = False

    # ------------------------------------------------------------------------------------------------ state
    def save(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "samples_seen": self.samples_seen,
            "train_seconds": self.train_seconds,
            "torch_rng": torch.get_rng_state(),
            "python_rng": self.prng.getstate(),
            "numpy_rng": self.nrng.bit_generator.state,
            "train_config": {**asdict(self.cfg), "lambdas": list(self.cfg.lambdas)},
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "last.pt")
        meta = {
            "step": self.step,
            "samples_seen": self.samples_seen,
            "cpu_hours": round(self.train_seconds * self.world / 3600, 3),
            "train_config": {**asdict(self.cfg), "lambdas": list(self.cfg.lambdas)},
        }
        save_checkpoint(self.model, self.out / f"model_step{self.step:06d}.pt", meta=meta)

    def quick_eval(self) -> dict | None:
        """NoC@85/90 (human clicks, and with accepted pseudo clicks) on the first ``eval_samples`` of
        ``eval_data``, and mIoU@3 of human clicks on ``eval_samples`` random objects of ``eval_grey`` (grey
        images far from the training data: the behaviour that can collapse while natural images improve);
        appended to ``OUT/eval.csv``. Rank 0 only."""
        cfg = self.cfg
        if self.rank != 0 or not cfg.eval_data or not Path(cfg.eval_data).is_dir():
            return None
        from ..engine.session import Session
        from ..evaluation.dataset import find_samples
        from ..evaluation.noc import evaluate_sample, summarize

        session = Session(self.model, "cpu" if self.device.type == "cpu" else self.device,
                          rule=self.pseudo_rule(), zoom_side=400)
        samples = find_samples(Path(cfg.eval_data))[: cfg.eval_samples]
        row = {"step": self.step, "train_hours": round(self.train_seconds * self.world / 3600, 4)}
        for mode in ("human", "pseudo"):
            res = [evaluate_sample(session, *s.load(), mode, 20, stop_at=0.9, name=s.name) for s in samples]
            summ = summarize(res)
            row[f"{mode}_noc85"] = round(summ["NoC@85"], 3)
            row[f"{mode}_noc90"] = round(summ["NoC@90"], 3)
            if mode == "pseudo":
                row["pseudo_precision"] = summ.get("pseudo_precision", 0.0)
        if cfg.eval_grey and Path(cfg.eval_grey).is_dir():
            grey = find_samples(Path(cfg.eval_grey))
            random.Random(0).shuffle(grey)
            res = [evaluate_sample(session, *s.load(), "human", 3, name=s.name) for s in grey[: cfg.eval_samples]]
            row["grey_miou3"] = summarize(res, 3)["mIoU@3"]
        self.out.mkdir(parents=True, exist_ok=True)
        _append_row(self.out / "eval.csv", row)
        return row

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    # ------------------------------------------------------------------------------------------------ step
    def pseudo_rule(self) -> ProposalRule:
        """The rule the model's own pseudo clicks follow in training (and in the quick evaluation)."""
        cfg = self.cfg
        return ProposalRule(cfg.pseudo_source, cfg.pseudo_lifetime, cfg.pseudo_threshold, cfg.pseudo_rank,
                            cfg.pseudo_signs, cfg.pseudo_min_fraction)

    def forward(self, net, image, prev, clicks, pseudo_clicks):
        """One pass; ``clicks`` and ``pseudo_clicks`` (N x K x 3, row, col, sign) may live on the CPU."""
        n, _, h, w = image.shape
        dev = image.device
        maps = torch.cat([prev, disk_maps(clicks.to(dev), h, w)], 1)
        pseudo = disk_maps(pseudo_clicks.to(dev), h, w) if pseudo_clicks.shape[1] else None
        maps = maps.contiguous(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
        if pseudo is not None:
            pseudo = pseudo.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.cfg.amp):
            out = net(image, maps, pseudo)
        return {k: v.float() for k, v in out.items()}

    def train_mode(self) -> None:
        """Training mode for what learns; the frozen modules and the frozen BatchNorm statistics (the backbone's,
        or with ``freeze_bn="all"`` every one) in eval mode."""
        self.model.train()
        self.model.freeze_backbone_bn()
        if self.cfg.freeze_bn == "all":
            for m in self.model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        if self.cfg.trainable != "all":
            learning = trainable_modules(self.model, self.cfg.trainable)
            for m in self.model.children():
                if m not in learning:
                    m.eval()

    def _own_pseudo(self, out: dict, clicks: torch.Tensor) -> torch.Tensor:
        return own_pseudo_clicks(torch.sigmoid(out["seg"]).cpu(), torch.sigmoid(out["err"]).cpu(), clicks,
                                 self.pseudo_rule())

    def train_step(self, batch: dict) -> dict[str, float]:
        cfg = self.cfg
        dev = self.device
        image = (batch["image"].to(dev).float() / 255.0).contiguous(memory_format=torch.channels_last)
        gt_cpu = batch["gt"]  # the click simulation works on the CPU; the losses where the network runs
        gt = gt_cpu.to(dev)
        clicks = batch["clicks"]
        n, _, h, w = image.shape
        prev = torch.zeros(n, 1, h, w, device=dev)
        pseudo = torch.zeros(n, 0, 3)
        plain = self.model  # no-gradient passes skip DDP bookkeeping
        self.train_mode()
        n_iter = self.prng.randint(0, cfg.max_iter)
        with torch.no_grad():
            for _ in range(n_iter):
                out = self.forward(plain, image, prev, clicks, pseudo)
                prob = torch.sigmoid(out["seg"])
                if self.prng.random() < cfg.iter_pseudo_prob:
                    pseudo = torch.cat([pseudo, self._own_pseudo(out, clicks)], 1)
                    prob = torch.sigmoid(self.forward(plain, image, prev, clicks, pseudo)["seg"])
                prev = prob
                clicks = add_error_clicks(clicks, gt_cpu, prob.cpu(), self.nrng)
                if cfg.pseudo_lifetime == "step":  # as the app on colour images: the mask keeps what they did
                    pseudo = pseudo[:, :0]
            if self.prng.random() < cfg.pseudo_prob:
                out = self.forward(plain, image, prev, clicks, pseudo)
                if self.prng.random() < cfg.oracle_prob:
                    new = oracle_pseudo_clicks(gt_cpu, torch.sigmoid(out["seg"]).cpu())
                else:
                    new = self._own_pseudo(out, clicks)
                pseudo = torch.cat([pseudo, new], 1)
        out = self.forward(self.net, image, prev, clicks, pseudo)
        seg, err = out["seg"], out["err"]
        with torch.no_grad():
            pred = torch.sigmoid(seg) >= 0.5
            valid = gt >= 0
            obj = gt > 0.5
            t_fp = torch.where(valid, (~obj & pred).float(), torch.full_like(gt, -1.0))
            t_fn = torch.where(valid, (obj & ~pred).float(), torch.full_like(gt, -1.0))
        l_seg = normalized_focal_loss(seg, gt)
        l_fp = error_loss(err[:, :1], t_fp, cfg.err_loss)
        l_fn = error_loss(err[:, 1:], t_fn, cfg.err_loss)
        lam = cfg.lambdas
        loss = lam[0] * l_seg + lam[1] * l_fp + lam[2] * l_fn
        factor = lr_factor(self.step, cfg)
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * factor
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 5.0)
        self.opt.step()
        with torch.no_grad():
            iou = _batch_iou(seg, gt)
        return {"loss": loss.item(), "seg": l_seg.item(), "fp": l_fp.item(), "fn": l_fn.item(), "iou": iou,
                "lr": self.opt.param_groups[-1]["lr"], "n_iter": n_iter}

    # ------------------------------------------------------------------------------------------------ run
    def run(self) -> int:
        cfg = self.cfg
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        loader = DataLoader(self.stream, batch_size=None, num_workers=cfg.workers, worker_init_fn=_ignore_stop_signals,
                            persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers > 0 else None)
        max_steps = cfg.max_steps or cfg.total_steps
        log_path = self.out / "log.csv"
        self.out.mkdir(parents=True, exist_ok=True)
        new_log = not log_path.exists()
        logf = open(log_path, "a", newline="") if self.rank == 0 else None
        writer = csv.writer(logf) if logf else None
        if writer and new_log:
            writer.writerow(["step", "samples", "train_hours", "loss", "seg", "fp", "fn", "iou", "lr", "samples_per_s"])
        pbar = None
        if self.rank == 0:
            from tqdm import tqdm

            pbar = tqdm(total=max_steps, initial=self.step, unit="step", dynamic_ncols=True, mininterval=5)
        start = time.time()
        last_save = time.time()
        last_eval = time.time()
        ema = None
        t_prev = time.time()
        saved = False
        try:
            for batch in loader:
                stop = self.step >= max_steps or self._stop
                stop = stop or (cfg.minutes is not None and time.time() - start > cfg.minutes * 60)
                if self.world > 1:  # every rank must stop at the same step or the others hang in all-reduce
                    flag = torch.tensor([float(stop)])
                    dist.all_reduce(flag)
                    stop = bool(flag.item() > 0)
                if stop:
                    break
                stats = self.train_step(batch)
                now = time.time()
                self.train_seconds += now - t_prev
                sps = cfg.batch * self.world / max(1e-6, now - t_prev)
                t_prev = now
                self.step += 1
                self.samples_seen += cfg.batch * self.world
                ema = stats if ema is None else {k: 0.98 * ema[k] + 0.02 * v for k, v in stats.items()}
                ema["sps"] = sps if "sps" not in ema else 0.95 * ema["sps"] + 0.05 * sps
                if pbar is not None:
                    pbar.update(1)
                    pbar.set_postfix(loss=f"{ema['loss']:.3f}", iou=f"{ema['iou']:.3f}", sps=f"{ema['sps']:.1f}", refresh=False)
                if writer and self.step % 25 == 0:
                    writer.writerow([self.step, self.samples_seen, round(self.train_seconds / 3600, 4),
                                     *(round(ema[k], 5) for k in ("loss", "seg", "fp", "fn", "iou")),
                                     f"{stats['lr']:.2e}", round(ema["sps"], 2)])
                    logf.flush()
                if now - last_save > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.time()
                if cfg.eval_data and now - last_eval > cfg.eval_minutes * 60:
                    row = self.quick_eval()
                    if row and pbar is not None:
                        pbar.write(f"quick eval at step {self.step}: {row}")
                    last_eval = t_prev = time.time()  # evaluation time is not training time
            self.save()
            saved = True
            if self._owns_group:
                dist.barrier()  # leave together: one rank's exit must not tear down gloo under the other
        except (RuntimeError, OSError, EOFError):
            if not self._stop:
                raise
            # a worker died some other way while we were stopping anyway: stop as asked (saved below)
        finally:
            if not saved:  # an exception or a signal: keep what was learnt
                self.save()
            if pbar is not None:
                pbar.close()
            if logf:
                logf.close()
            for s, h in old.items():
                signal.signal(s, h)
            if self._owns_group and _is_dist():
                # a process group left to interpreter exit tears down gloo's threads in any order: the process
                # can abort ("terminate called without an active exception") after a run that went fine
                dist.destroy_process_group()
        return 0


def _ignore_stop_signals(_worker_id: int) -> None:
    """Data-loading workers leave stopping to the main process: a process-group SIGTERM or Ctrl+C then stops the
    run at the next step, which saves and shuts the workers down in order, instead of killing a worker
    mid-batch."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def _batch_iou(seg: torch.Tensor, gt: torch.Tensor) -> float:
    pred = seg > 0
    valid = gt >= 0
    obj = gt > 0.5
    inter = (pred & obj & valid).sum((1, 2, 3)).float()
    union = ((pred | obj) & valid).sum((1, 2, 3)).float()
    return float((inter / union.clamp(min=1)).mean())


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


__all__ = ["TrainConfig", "Trainer", "lr_factor"]
