"""One JAX run of bench/compare/compare.ts: times jitted training steps of the small models on
synthetic in-memory batches and prints ONE JSON line (no flax or optax: the models are written
with jax.numpy and lax, the optimizers by hand from PyTorch's formulas).

Models (train mode, as onnxtrain's and torch_steps.py's):
- mlp: 784-512-512-10 ReLU, cross-entropy, SGD lr 1e-3;
- cnn: Conv 1->16 k3 p1, BatchNorm, ReLU, MaxPool 2, Conv 16->32 k3 p1, BatchNorm, ReLU,
  MaxPool 2, Flatten, Dropout 0.25, Linear 1568->10; Adam 1e-3;
- resnet: pipelines/fmnist_resnet.ts's small ResNet (BasicBlocks 16, 16, 16->32 stride 2 with a
  1x1 projection, 32), Adam 1e-3.
BatchNorm uses the batch's statistics and updates running statistics (momentum 0.1, unbiased
variance), as PyTorch's train mode. Convolutions run in NHWC (flax's layout; XLA's CPU
convolutions are NHWC): the jitted step transposes the NCHW batch first.

One step: the jitted function (donating nothing) takes the numpy batch (host -> device copy),
runs forward, backward and the update, and the loop blocks until its outputs are ready and reads
the loss. Each step is timed on its own; `--warmup` steps (the first one compiles) are not
timed. Data, cycling and stopping as torch_steps.py. Threads: XLA's default.

    python bench/compare/jax_steps.py --model mlp [--batch 64] [--warmup 8] [--seconds 4]
        [--min-steps 10] [--max-steps 20000]
    python bench/compare/jax_steps.py --peak | --probe
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _child import child_parser, synthetic_batches  # noqa: E402

os.environ.setdefault("JAX_PLATFORMS", "cpu")
MODELS = ("mlp", "cnn", "resnet")


def probe():
    import jax
    import jaxlib
    return {"python": sys.executable, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "devices": [str(d) for d in jax.devices()],
            "env": {k: os.environ.get(k) for k in ("XLA_FLAGS", "JAX_PLATFORMS")}}


def peak(n=1024, repeats=10):
    """GFLOP/s of a jitted [n, n] x [n, n] float32 matmul: best of `repeats` after two warm-ups."""
    import jax
    import jax.numpy as jnp
    a = jax.random.uniform(jax.random.PRNGKey(0), (n, n), jnp.float32) - 0.5
    f = jax.jit(jnp.matmul)
    best = float("inf")
    for r in range(repeats + 2):
        t = time.perf_counter()
        f(a, a).block_until_ready()
        if r >= 2:
            best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def make_model(name, jax, jnp, lax):
    """(init(key) -> (params, buffers), apply(params, buffers, x, key) -> (logits, buffers),
    optimizer name)."""

    def uniform(key, shape, fan_in):
        bound = 1 / fan_in ** 0.5
        return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

    def dense_init(key, n_in, n_out, bias=True):
        k1, k2 = jax.random.split(key)
        p = {"w": uniform(k1, (n_in, n_out), n_in)}
        if bias:
            p["b"] = uniform(k2, (n_out,), n_in)
        return p

    def dense(p, x):
        return x @ p["w"] + p["b"]

    def conv_init(key, cin, cout, k, bias):
        k1, k2 = jax.random.split(key)
        p = {"w": uniform(k1, (k, k, cin, cout), cin * k * k)}
        if bias:
            p["b"] = uniform(k2, (cout,), cin * k * k)
        return p

    def conv(p, x, stride=1, pad=1):
        y = lax.conv_general_dilated(x, p["w"], (stride, stride), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + p["b"] if "b" in p else y

    def bn_init(c):
        return {"g": jnp.ones((c,)), "b": jnp.zeros((c,))}, {"mean": jnp.zeros((c,)),
                                                               "var": jnp.ones((c,))}

    def bn(p, s, x):
        mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
        n = x.shape[0] * x.shape[1] * x.shape[2]
        y = (x - mean) * lax.rsqrt(var + 1e-5) * p["g"] + p["b"]
        mean, var = lax.stop_gradient(mean), lax.stop_gradient(var)
        return y, {"mean": 0.9 * s["mean"] + 0.1 * mean,
                   "var": 0.9 * s["var"] + 0.1 * var * n / (n - 1)}

    def maxpool2(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    relu = jax.nn.relu
    nhwc = lambda x: jnp.transpose(x, (0, 2, 3, 1))  # noqa: E731

    if name == "mlp":
        def init(key):
            k = jax.random.split(key, 3)
            return {"l1": dense_init(k[0], 784, 512), "l2": dense_init(k[1], 512, 512),
                    "l3": dense_init(k[2], 512, 10)}, {}

        def apply(p, s, x, key):
            h = x.reshape(x.shape[0], -1)
            h = relu(dense(p["l1"], h))
            h = relu(dense(p["l2"], h))
            return dense(p["l3"], h), s
        return init, apply, "sgd"

    if name == "cnn":
        def init(key):
            k = jax.random.split(key, 3)
            (g1, s1), (g2, s2) = bn_init(16), bn_init(32)
            return ({"c1": conv_init(k[0], 1, 16, 3, True), "bn1": g1,
                     "c2": conv_init(k[1], 16, 32, 3, True), "bn2": g2,
                     "fc": dense_init(k[2], 32 * 7 * 7, 10)}, {"bn1": s1, "bn2": s2})

        def apply(p, s, x, key):
            h, b1 = bn(p["bn1"], s["bn1"], conv(p["c1"], nhwc(x)))
            h = maxpool2(relu(h))
            h, b2 = bn(p["bn2"], s["bn2"], conv(p["c2"], h))
            h = maxpool2(relu(h)).reshape(x.shape[0], -1)
            keep = jax.random.bernoulli(key, 0.75, h.shape)
            h = jnp.where(keep, h / 0.75, 0.0)
            return dense(p["fc"], h), {"bn1": b1, "bn2": b2}
        return init, apply, "adam"

    def block_init(key, cin, c, stride):
        k = jax.random.split(key, 3)
        (g1, s1), (g2, s2) = bn_init(c), bn_init(c)
        p = {"conv1": conv_init(k[0], cin, c, 3, False), "bn1": g1,
             "conv2": conv_init(k[1], c, c, 3, False), "bn2": g2}
        s = {"bn1": s1, "bn2": s2}
        if stride != 1 or cin != c:
            g3, s3 = bn_init(c)
            p["down"], p["down_bn"], s["down_bn"] = conv_init(k[2], cin, c, 1, False), g3, s3
        return p, s

    def block(p, s, x, stride):
        h, b1 = bn(p["bn1"], s["bn1"], conv(p["conv1"], x, stride))
        h, b2 = bn(p["bn2"], s["bn2"], conv(p["conv2"], relu(h)))
        out = {"bn1": b1, "bn2": b2}
        if "down" in p:
            x, out["down_bn"] = bn(p["down_bn"], s["down_bn"], conv(p["down"], x, stride, 0))
        return relu(h + x), out

    strides = (1, 1, 2, 1)

    def init(key):
        k = jax.random.split(key, 6)
        g, s0 = bn_init(16)
        params, buffers = {"conv1": conv_init(k[0], 1, 16, 3, False), "bn1": g,
                           "fc": dense_init(k[1], 32, 10)}, {"bn1": s0}
        for i, (cin, c, stride) in enumerate(((16, 16, 1), (16, 16, 1), (16, 32, 2),
                                              (32, 32, 1))):
            params[f"b{i}"], buffers[f"b{i}"] = block_init(k[2 + i], cin, c, stride)
        return params, buffers

    def apply(p, s, x, key):
        h, b0 = bn(p["bn1"], s["bn1"], conv(p["conv1"], nhwc(x)))
        h, out = relu(h), {"bn1": b0}
        for i, stride in enumerate(strides):
            h, out[f"b{i}"] = block(p[f"b{i}"], s[f"b{i}"], h, stride)
        return dense(p["fc"], h.mean((1, 2))), out
    return init, apply, "adam"


def main():
    ap = child_parser(__doc__.split("\n\n")[0], MODELS)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(probe()))
        return
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    tag = {"framework": "jax", "jax": jax.__version__}
    if args.peak:
        print(json.dumps({**tag, "peak_gflops": round(peak(), 1)}))
        return

    init, apply, optimizer = make_model(args.model, jax, jnp, lax)
    params, buffers = init(jax.random.PRNGKey(0))
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
    opt = {"m": zeros(), "v": zeros()} if optimizer == "adam" else {}
    base_key = jax.random.PRNGKey(1)

    def loss_fn(p, s, x, y, key):
        logits, s = apply(p, s, x, key)
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean(), s

    @jax.jit
    def step(p, s, o, x, y, t):
        key = jax.random.fold_in(base_key, t)
        (loss, s), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, x, y, key)
        if optimizer == "sgd":
            return jax.tree_util.tree_map(lambda w, d: w - 1e-3 * d, p, g), s, o, loss
        # torch.optim.Adam (lr 1e-3, betas 0.9 0.999, eps 1e-8), step t from 1.
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda m, d: b1 * m + (1 - b1) * d, o["m"], g)
        v = jax.tree_util.tree_map(lambda v, d: b2 * v + (1 - b2) * d * d, o["v"], g)
        c1, c2 = 1 - b1 ** t.astype(jnp.float32), 1 - b2 ** t.astype(jnp.float32)
        p = jax.tree_util.tree_map(
            lambda w, m, v: w - lr / c1 * m / (jnp.sqrt(v) / jnp.sqrt(c2) + eps), p, m, v)
        return p, s, {"m": m, "v": v}, loss

    xs, ys, count = synthetic_batches(np, args.batch, [1, 28, 28], np.int32)

    times, losses = [], []
    start = last = time.perf_counter()
    timed_start = start if args.warmup == 0 else None
    compile_s = None
    for i in range(args.warmup + args.max_steps):
        params, buffers, opt, loss = step(params, buffers, opt, xs[i % count], ys[i % count],
                                          np.int32(i + 1))
        jax.block_until_ready((params, buffers, opt, loss))
        losses.append(float(loss))
        now = time.perf_counter()
        if compile_s is None:
            compile_s = now - start
        if i >= args.warmup:
            times.append((now - last) * 1000)
            if len(times) >= args.min_steps and now - timed_start >= args.seconds:
                break
        elif i == args.warmup - 1:
            timed_start = now
        last = now
    n_params = sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(params))
    print(json.dumps({
        **tag, "model": args.model, "batch": args.batch,
        "median_ms": round(statistics.median(times), 4),
        "mean_ms": round(statistics.fmean(times), 4),
        "timed_steps": len(times), "warmup_steps": args.warmup, "distinct_batches": count,
        "samples_ms": [round(t, 3) for t in times], "params": n_params,
        "first_step_s": round(compile_s, 2),
        "wall_s": round(time.perf_counter() - start, 2),
        "cpu_s": round(os.times().user + os.times().system, 3),
        "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4),
    }))


if __name__ == "__main__":
    main()
