"""What every Python child of compare.ts shares (torch_steps.py, jax_steps.py): its flags and its
synthetic data."""
import argparse

# The synthetic batches: as many distinct ones as fit in 64 MiB, at least 2, at most 512.
DATA_BYTES = 64 * 2 ** 20
MOST_BATCHES = 512


def child_parser(description, models):
    """An argument parser with the shared flags: model, batch, warm-up, timing, peak, probe."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", default="mlp", choices=models)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--min-steps", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--peak", action="store_true")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--image-size", type=int, default=64, help="the zoo models' image side")
    return ap


def synthetic_batches(np, batch, sample, label_dtype):
    """Uniform [0, 1) float32 images [count, batch, *sample] and labels in 0..9 (seed 1)."""
    rng = np.random.default_rng(1)
    per_batch = batch * int(np.prod(sample)) * 4
    count = max(2, min(MOST_BATCHES, DATA_BYTES // per_batch))
    xs = rng.random((count, batch, *sample), dtype=np.float32)
    ys = rng.integers(0, 10, (count, batch), dtype=label_dtype)
    return xs, ys, count
