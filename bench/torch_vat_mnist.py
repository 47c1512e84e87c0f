"""VAT on MNIST in PyTorch, independent of our code, started where a run of ours starts.

The other half of bench/vat_mnist.ts, which writes DIR (our initial weights, labelled indices, the
first batch, a VAT start d and our first losses and gradients). This script:

  first   recomputes L_nll, L_vat and the gradients of L_nll + beta L_vat on that batch from the
          same weights and the same d, and prints their differences from ours;
  train   trains from the same weights on the same labelled set, schedule and batch sizes with
          its own batch order, and prints the test error at every evaluation as JSON.

  python3 bench/torch_vat_mnist.py first DIR
  python3 bench/torch_vat_mnist.py train DIR --mnist DIR [--bn labelled|labelled+clean]
      [--reestimate N] [--seed S] [--eps E] [--xi XI] [--iterations T]

--bn says which passes move the batch-norm running statistics: vat_tf's (the labelled pass
only) or also the clean unlabelled pass. --reestimate N re-estimates them before each
evaluation as the plain mean over N training batches (vat_tf's test.py: 100).
Run with OMP_WAIT_POLICY=PASSIVE.
"""
import argparse
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The sibling speed references (this script runs from bench/, so they import as modules).
from torch_gpu_reference import FrozenStats as frozen_stats
from torch_reference import kl, l2_normalize as unit, vat_mlp


def load_ours(d):
    m = json.load(open(f"{d}/manifest.json"))
    w = np.fromfile(f"{d}/weights.f32", dtype=np.float32)
    model = vat_mlp()
    for b in model.modules():
        if isinstance(b, nn.BatchNorm1d):
            b.momentum = m["bnMomentum"]
    state = {t["name"]: torch.from_numpy(
        w[t["offset"]:t["offset"] + int(np.prod(t["shape"]))].reshape(t["shape"]).copy())
        for t in m["tensors"]}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), \
        (missing, unexpected)
    return m, model


def vat_perturbation(model, x, clean, d, eps, xi, iterations):
    with frozen_stats(model):
        for _ in range(iterations):
            probe = (xi * unit(d)).requires_grad_()
            dist = kl(clean, model(x + probe))
            d = torch.autograd.grad(dist, probe)[0]
        return eps * unit(d)


def vat_loss(model, x, clean, d, eps, xi, iterations):
    r = vat_perturbation(model, x, clean, d, eps, xi, iterations)
    with frozen_stats(model):
        return kl(clean, model(x + r))


def first(args):
    m, model = load_ours(args.dir)
    model.train()
    b = np.fromfile(f"{args.dir}/batch.f32", dtype=np.float32)
    k = 0
    parts = {}
    for name, shape in [("xl", m["batch"]["xl"]), ("yl", m["batch"]["yl"]),
                        ("xul", m["batch"]["xul"]), ("d", m["batch"]["xul"])]:
        n = int(np.prod(shape))
        parts[name] = torch.from_numpy(b[k:k + n].reshape(shape).copy())
        k += n
    ours = []
    for g in m["grads"]:
        n = int(np.prod(g["shape"]))
        ours.append((g["name"], torch.from_numpy(b[k:k + n].reshape(g["shape"]).copy())))
        k += n
    n = int(np.prod(m["batch"]["xul"]))
    r = {"ours f32": b[k:k + n], "ours f64": b[k + n:k + 2 * n]}
    cfg = m["config"]
    # r_vadv from the same start in float32 and float64, before the step below moves anything.
    for dtype, key in [(torch.float32, "torch f32"), (torch.float64, "torch f64")]:
        _, copy = load_ours(args.dir)
        copy = copy.to(dtype).train()
        x = parts["xul"].flatten(1).to(dtype)
        with frozen_stats(copy), torch.no_grad():
            clean_c = copy(x)
        r[key] = vat_perturbation(copy, x, clean_c, parts["d"].flatten(1).to(dtype), cfg["eps"],
                                  cfg["xi"], 1).detach().double().numpy().ravel()
    bu = m["batch"]["xul"][0]

    def cosine(a, b):
        a, b = np.asarray(a, np.float64).reshape(bu, -1), np.asarray(b, np.float64).reshape(bu, -1)
        c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-300)
        return float(c.mean())
    xl, xul = parts["xl"].flatten(1), parts["xul"].flatten(1)
    nll = F.cross_entropy(model(xl), parts["yl"].long())
    with frozen_stats(model), torch.no_grad():
        clean = model(xul)
    vat = vat_loss(model, xul, clean, parts["d"].flatten(1), cfg["eps"], cfg["xi"], 1)
    total = nll + cfg["beta"] * vat
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(total, [params[n] for n, _ in ours])
    rows = []
    for (name, g_ours), g in zip(ours, grads):
        rel = ((g - g_ours).norm() / g.norm().clamp_min(1e-30)).item()
        rows.append({"tensor": name, "rel_diff": rel})
    out = {
        "nll": {"ours": m["ours"]["nll"], "torch": nll.item()},
        "vat": {"ours": m["ours"]["vat"], "torch": vat.item()},
        "grad_rel_diff_max": max(row["rel_diff"] for row in rows),
        "r_vadv_mean_cosine": {f"{a} vs {b}": cosine(r[a], r[b])
                               for i, a in enumerate(r) for b in list(r)[i + 1:]},
        "grads": rows,
    }
    print(json.dumps(out, indent=1))


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def train(args):
    m, model = load_ours(args.dir)
    cfg = dict(m["config"])
    for k in ("eps", "xi", "iterations"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xtr = torch.from_numpy(idx(f"{args.mnist}/train-images-idx3-ubyte.gz").reshape(-1, 784)
                           .astype(np.float32) / 255)
    ytr = torch.from_numpy(idx(f"{args.mnist}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx(f"{args.mnist}/t10k-images-idx3-ubyte.gz").reshape(-1, 784)
                           .astype(np.float32) / 255)
    yte = torch.from_numpy(idx(f"{args.mnist}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    labelled = np.fromfile(f"{args.dir}/labelled.i32", dtype=np.int32)
    T, bl, bu = cfg["iterations"], cfg["batchSize"], cfg["ulBatchSize"]
    start = int(cfg["lrDecayStart"] * T)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)

    def epochs(pool, size):
        while True:
            perm = rng.permutation(pool)
            for i in range(0, len(perm) - size + 1, size):
                yield perm[i:i + size]

    lab, unl = epochs(labelled, bl), epochs(np.arange(len(xtr)), bu)

    def test_error():
        if args.reestimate:
            bns = [b for b in model.modules() if isinstance(b, nn.BatchNorm1d)]
            model.train()
            saved = [b.momentum for b in bns]
            for b in bns:
                b.momentum = None  # cumulative average
                b.reset_running_stats()
            stats_rng = np.random.default_rng(12345)
            with torch.no_grad():
                for _ in range(args.reestimate):
                    model(xtr[stats_rng.choice(len(xtr), bu, replace=False)])
            for b, mo in zip(bns, saved):
                b.momentum = mo
        model.eval()
        with torch.no_grad():
            wrong = sum((model(xte[i:i + 1000]).argmax(1) != yte[i:i + 1000]).sum().item()
                        for i in range(0, len(xte), 1000))
        model.train()
        return 100.0 * wrong / len(xte)

    curve = []
    t0 = time.time()
    for t in range(T):
        lr = cfg["lr"] if t < start else cfg["lr"] * max(0, T - t) / max(1, T - start)
        b1 = 0.9 if t < start else cfg["beta1Decayed"]
        for g in opt.param_groups:
            g["lr"], g["betas"] = lr, (b1, 0.999)
        il, iu = next(lab), next(unl)
        xl, yl, xul = xtr[il], ytr[il], xtr[iu]
        nll = F.cross_entropy(model(xl), yl)
        if args.bn == "labelled":
            with frozen_stats(model), torch.no_grad():
                clean = model(xul)
        else:
            with torch.no_grad():
                clean = model(xul)
        vat = vat_loss(model, xul, clean, torch.randn_like(xul), cfg["eps"], cfg["xi"], 1)
        opt.zero_grad()
        (nll + cfg["beta"] * vat).backward()
        opt.step()
        if (t + 1) % cfg["evalInterval"] == 0 or t + 1 == T:
            curve.append({"iteration": t + 1, "test_error": test_error()})
            print(json.dumps(curve[-1]), file=sys.stderr)
    print(json.dumps({"seed": args.seed, "bn": args.bn, "reestimate": args.reestimate,
                      "eps": cfg["eps"], "seconds": time.time() - t0, "curve": curve}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("first")
    f.add_argument("dir")
    t = sub.add_parser("train")
    t.add_argument("dir")
    t.add_argument("--mnist", required=True)
    t.add_argument("--bn", choices=["labelled", "labelled+clean"], default="labelled")
    t.add_argument("--reestimate", type=int, default=0)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--eps", type=float)
    t.add_argument("--xi", type=float)
    t.add_argument("--iterations", type=int)
    t.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(getattr(args, "threads", 1))
    (first if args.cmd == "first" else train)(args)


if __name__ == "__main__":
    main()
