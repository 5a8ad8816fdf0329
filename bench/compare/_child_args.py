"""The flags every Python child of compare.ts takes (torch_steps.py, jax_steps.py)."""
import argparse


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
    return ap
