"""PyTorch timings of the benchmarks in bench/main.ts, for the ratios it prints.

Run by bench/main.ts with OMP_WAIT_POLICY=PASSIVE and 2 threads (PyTorch's
OpenMP threads otherwise spin against OpenBLAS's on a 2-core machine).
Prints one JSON object: milliseconds per step of each benchmark (median).
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def vat_mlp():
    # 784-1200-600-300-150-10, batch norm after every linear layer (no bias there), ReLU between.
    sizes = [784, 1200, 600, 300, 150, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1], bias=False), nn.BatchNorm1d(sizes[i + 1])]
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def kl(p_logit, q_logit):
    p = F.softmax(p_logit, dim=1)
    return (p * (F.log_softmax(p_logit, dim=1) - F.log_softmax(q_logit, dim=1))).sum(1).mean()


def l2_normalize(d):
    # VAT's get_normalized_vector: divide by the largest magnitude first, so the 1e-6 never matters.
    shape = (-1, *([1] * (d.dim() - 1)))
    d = d / (1e-12 + d.abs().flatten(1).max(1)[0].view(shape))
    return d / torch.sqrt(1e-6 + (d.flatten(1) ** 2).sum(1)).view(shape)


def bench_vat_step(threads):
    torch.manual_seed(0)
    model = vat_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    x_l = torch.rand(100, 784)
    y_l = torch.randint(0, 10, (100,))
    x_ul = torch.rand(250, 784)
    eps, xi = 0.3, 1e-6

    def step():
        opt.zero_grad()
        nll = F.cross_entropy(model(x_l), y_l)
        logit_ul = model(x_ul).detach()
        for bn in bns:  # the perturbed passes must not move the running statistics
            bn.momentum = 0.0
        d = (xi * l2_normalize(torch.randn_like(x_ul))).requires_grad_()
        dist = kl(logit_ul, model(x_ul + d))
        g, = torch.autograd.grad(dist, [d])
        r_adv = eps * l2_normalize(g)
        vat = kl(logit_ul, model(x_ul + r_adv))
        for bn in bns:
            bn.momentum = 0.1
        (nll + vat).backward()
        opt.step()

    return median_ms(step, 5, 40)


def bench_conv(threads):
    x = torch.randn(32, 128, 32, 32, requires_grad=True)
    w = torch.randn(128, 128, 3, 3, requires_grad=True)
    g = torch.randn(32, 128, 32, 32)

    def step():
        y = F.conv2d(x, w, padding=1)
        y.backward(g)

    return median_ms(step, 2, 10)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": threads,
        "vat_step_ms": bench_vat_step(threads),
        "conv_ms": bench_conv(threads),
    }))


if __name__ == "__main__":
    main()
