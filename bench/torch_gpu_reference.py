"""PyTorch timings of the two iterations bench/gpu.ts times, for its ratios.

The same work as ours, op for op where PyTorch allows:

  advgen  one iteration of the paper's method (src/methods/advgen.ts): a C step
          on L_nll(x_l) + alpha KL(C(x_ul) || C(G(x_ul, z))) with C(x_ul) a
          constant target and G fixed, then a G step on
          -alpha KL(...) + lambda ||x - G(x, z)||^2 (summed per sample, averaged
          over the batch) with C fixed, the encoder getting the gradient of the
          reconstruction term alone ("differentiated responsibilities"); two
          Adams. Passes of C on anything but x_l leave the batch-norm running
          statistics alone.
  vat     one VAT iteration (src/methods/vat.ts): L_nll(x_l) + KL(C(x_ul) ||
          C(x_ul + r_vadv)), one power iteration, xi 1e-6, eps 8.0.

C is VAT's Conv-Large (src/models/convnet.ts), G the conv encoder-decoder of
src/models/generator.ts (convGenerator: width 32, code 64, z 16, bounded
output x + 0.3 tanh(.)). With --model mnist, as the presets mnist-advgen and
mnist-vat: C is VAT's MLP, G is 16 wide for 1 x 28 x 28 images with the step
centred over the batch and scaled to L2 norm 2 per sample, G weighs each
sample's KL by 1 / (its KL + the mean KL) held constant, and VAT's eps is 2. Each iteration returns its metrics as detached
tensors, read later, as ours does (our loop reads them only when it logs), so
neither side waits for the GPU inside an iteration.

Timed with CUDA events on a GPU (perf_counter on the CPU); median ms after
warm-up. The last line printed is one JSON object:
{"advgen_ms", "vat_ms", "device", "torch", ...settings}.

Runs on PyTorch 1.13 and 2.x. Usage:
  python3 bench/torch_gpu_reference.py [--device cuda|cpu] [--labelled 32]
      [--unlabelled 128] [--warmup 5] [--reps 30] [--threads N] [--no-tf32]
      [--no-cudnn-benchmark]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_reference import vat_mlp

ALPHA, LAMBDA = 1.0, 1.0
EPS, XI = 8.0, 1e-6
G_WIDTH, G_CODE, G_Z, G_BOUND = 32, 64, 16, 0.3


def conv_large(classes=10, stages=(128, 256), head=(512, 256, 128)):
    """VAT's Conv-Large as takerum/vat_tf cnn.py (no top BN, as its CIFAR-10 runs);
    with stages (96, 192) and head (192, 192, 192), Conv-Small (CIFAR-10 widths)."""
    layers = []

    def conv_bn(cin, cout, k, pad):
        layers.extend([
            nn.Conv2d(cin, cout, k, padding=pad, bias=False),
            nn.BatchNorm2d(cout, eps=1e-6, momentum=0.01),
            nn.LeakyReLU(0.1),
        ])

    c = 3
    for width in stages:
        for _ in range(3):
            conv_bn(c, width, 3, 1)
            c = width
        layers.extend([nn.MaxPool2d(2, 2), nn.Dropout(0.5)])
    conv_bn(c, head[0], 3, 0)
    conv_bn(head[0], head[1], 1, 0)
    conv_bn(head[1], head[2], 1, 0)
    layers.extend([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(head[2], classes)])
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """convGenerator of src/models/generator.ts for c x h x w images, bounded output."""

    def __init__(self, c=3, h=32, w=32, width=G_WIDTH, code=G_CODE, z_dim=G_Z, bound=G_BOUND,
                 radius=None):
        super().__init__()
        # radius: the normalized output (centred, L2 norm radius per sample) instead of bounded
        self.z_dim, self.bound, self.radius = z_dim, bound, radius
        h4, w4 = h // 4, w // 4
        flat = 2 * width * h4 * w4
        self.encoder = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(flat, code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(code + z_dim, flat),
            nn.Unflatten(1, (2 * width, h4, w4)),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(width, c, 4, 2, 1),
        )

    def forward(self, x):
        z = torch.randn(x.shape[0], self.z_dim, device=x.device)
        step = self.decoder(torch.cat([self.encoder(x), z], 1)).view_as(x)
        if self.radius is not None:
            step = step - step.mean(0, keepdim=True)
            norm = torch.sqrt(1e-12 + (step.flatten(1) ** 2).sum(1)).view(-1, *([1] * (x.dim() - 1)))
            return x + self.radius * step / norm
        return x + self.bound * torch.tanh(step)


def kl(p_logit, q_logit):
    p = F.softmax(p_logit, dim=1)
    return (p * (F.log_softmax(p_logit, dim=1) - F.log_softmax(q_logit, dim=1))).sum(1).mean()


def relative_kl(p_logit, q_logit):
    """Each sample's KL over (its own + the batch mean), the weights held constant (ours)."""
    p = F.softmax(p_logit, dim=1)
    rows = (p * (F.log_softmax(p_logit, dim=1) - F.log_softmax(q_logit, dim=1))).sum(1)
    with torch.no_grad():
        weights = 1 / (rows.clamp(min=0) + rows.mean() + 1e-30)
    return (rows * weights).mean()


def unit(d):
    # Ours: d / sqrt(1e-30 + sum d^2) per sample (src/methods/vat.ts).
    norm = torch.sqrt(1e-30 + (d.flatten(1) ** 2).sum(1))
    return d / norm.view(-1, *([1] * (d.dim() - 1)))


class FrozenStats:
    """Batch statistics as usual, running statistics untouched (our withFrozenBatchNormStats)."""

    def __init__(self, *models):
        self.bns = [m for model in models for m in model.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def __enter__(self):
        self.saved = [bn.momentum for bn in self.bns]
        for bn in self.bns:
            bn.momentum = 0.0

    def __exit__(self, *exc):
        for bn, m in zip(self.bns, self.saved):
            bn.momentum = m


def advgen_iteration(c, g, opt_c, opt_g, xl, yl, xul, g_kl=kl):
    frozen = FrozenStats(c)
    # C step, G fixed.
    opt_c.zero_grad(set_to_none=True)
    nll = F.cross_entropy(c(xl), yl)
    with torch.no_grad():
        xg = g(xul)
        with frozen:
            target = c(xul)
    with frozen:
        adv = kl(target, c(xg))
    (nll + ALPHA * adv).backward()
    opt_c.step()
    metrics = {"nll": nll.detach(), "adv": adv.detach()}
    # G step, C fixed: decoder from the whole objective, encoder from the reconstruction alone.
    opt_g.zero_grad(set_to_none=True)
    xg = g(xul)
    rec = ((xul - xg) ** 2).sum() / xul.shape[0]
    with torch.no_grad(), frozen:
        target = c(xul)
    with frozen:
        g_adv = g_kl(target, c(xg))
    objective = -ALPHA * g_adv + LAMBDA * rec
    dec, enc = list(g.decoder.parameters()), list(g.encoder.parameters())
    for p, gr in zip(dec, torch.autograd.grad(objective, dec, retain_graph=True)):
        p.grad = gr
    for p, gr in zip(enc, torch.autograd.grad(LAMBDA * rec, enc)):
        p.grad = gr
    opt_g.step()
    metrics.update(g_adv=g_adv.detach(), rec=rec.detach())
    return metrics


def vat_iteration(c, opt, xl, yl, xul, eps=EPS):
    frozen = FrozenStats(c)
    opt.zero_grad(set_to_none=True)
    nll = F.cross_entropy(c(xl), yl)
    with torch.no_grad(), frozen:
        target = c(xul)
    with frozen:
        probe = (XI * unit(torch.randn_like(xul))).requires_grad_()
        d, = torch.autograd.grad(kl(target, c(xul + probe)), [probe])
        r_adv = eps * unit(d)
        vat = kl(target, c(xul + r_adv))
    (nll + vat).backward()
    opt.step()
    return {"nll": nll.detach(), "vat": vat.detach()}


def supervised_iteration(c, opt, xl, yl):
    opt.zero_grad(set_to_none=True)
    nll = F.cross_entropy(c(xl), yl)
    nll.backward()
    opt.step()
    return {"nll": nll.detach()}


def median_ms(fn, device, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize()
        for _ in range(reps):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", choices=["conv-large", "conv-small", "mnist"], default="conv-large")
    ap.add_argument("--labelled", type=int, default=32)
    ap.add_argument("--unlabelled", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tf32", action="store_true",
                    help="exact float32 convolutions and matmuls (PyTorch allows TF32 in cuDNN by default)")
    ap.add_argument("--no-cudnn-benchmark", action="store_true",
                    help="leave cuDNN's algorithm search off")
    args = ap.parse_args()

    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        if args.no_tf32:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(args.seed)

    mnist = args.model == "mnist"
    image = (1, 28, 28) if mnist else (3, 32, 32)
    xl = torch.randn(args.labelled, *image, device=device)
    yl = (torch.arange(args.labelled, device=device) % 10).long()
    xul = torch.randn(args.unlabelled, *image, device=device)

    def classifier():
        if mnist:
            return nn.Sequential(nn.Flatten(), vat_mlp()).to(device).train()
        if args.model == "conv-small":
            return conv_large(stages=(96, 192), head=(192, 192, 192)).to(device).train()
        return conv_large().to(device).train()

    c = classifier()
    g = (Generator(1, 28, 28, width=16, radius=2.0) if mnist else Generator()).to(device).train()
    opt_c = torch.optim.Adam(c.parameters(), lr=1e-3)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3)
    g_kl = relative_kl if mnist else kl
    advgen_ms = median_ms(lambda: advgen_iteration(c, g, opt_c, opt_g, xl, yl, xul, g_kl),
                          device, args.warmup, args.reps)

    c = classifier()
    opt = torch.optim.Adam(c.parameters(), lr=1e-3)
    eps = 2.0 if mnist else EPS
    vat_ms = median_ms(lambda: vat_iteration(c, opt, xl, yl, xul, eps), device, args.warmup,
                       args.reps)

    c = classifier()
    opt = torch.optim.Adam(c.parameters(), lr=1e-3)
    supervised_ms = median_ms(lambda: supervised_iteration(c, opt, xl, yl), device, args.warmup,
                              args.reps)

    out = {
        "advgen_ms": advgen_ms,
        "vat_ms": vat_ms,
        "supervised_ms": supervised_ms,
        "model": args.model,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "labelled": args.labelled,
        "unlabelled": args.unlabelled,
        "warmup": args.warmup,
        "reps": args.reps,
    }
    if device.type == "cuda":
        out["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        out["cudnn_tf32"] = torch.backends.cudnn.allow_tf32
        out["matmul_tf32"] = torch.backends.cuda.matmul.allow_tf32
    else:
        out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
