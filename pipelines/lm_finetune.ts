/**
 * Fine-tunes a causal language model exported to ONNX on a text file of your own: GPT-2 from
 * transformers (or any model mapping token ids `[N, T]` to logits `[N, T, V]`), byte-level tokens
 * (each byte of the file is a token, so the model's vocabulary must hold 256 ids, or pass
 * `--vocab V` for a file whose bytes are all below V). The file is cut into windows of
 * `--context T` + 1 bytes; a window's first T bytes are the input and its last T the next-token
 * targets, with per-token cross-entropy. The last tenth of the windows is the test set. The log
 * is the tutorial's (per-token loss; accuracy is next-byte accuracy) with the test perplexity,
 * exp(per-token test loss), after each epoch.
 *
 *     deno run -P pipelines/lm_finetune.ts MODEL.onnx TEXT.txt [--context 64] [--vocab 256] [flags]
 *
 * Export a byte-level GPT-2 with PyTorch 2.x (the dynamo exporter, opset 20):
 *
 *     cfg = GPT2Config(vocab_size=256, n_positions=64, n_embd=128, n_layer=4, n_head=4)
 *     model = GPT2LMHeadModel(cfg).eval()
 *     class Logits(torch.nn.Module):
 *         def __init__(self, m): super().__init__(); self.m = m
 *         def forward(self, ids): return self.m(input_ids=ids, use_cache=False, return_dict=False)[0]
 *     torch.onnx.export(Logits(model), (torch.zeros(2, 64, dtype=torch.long),), "gpt2.onnx",
 *                       dynamic_shapes=({0: torch.export.Dim("batch")},))
 * @module
 */
import {
  adamW,
  crossEntropy,
  type EpochResult,
  fromOnnx,
  pipeline,
  runCli,
  tensorDataset,
  UserRangeError,
} from "../mod.ts";

/** Options of {@linkcode lmFinetune}. */
export interface LmFinetuneOptions {
  /** Tokens per window (the model's sequence length; default 64). */
  readonly context?: number;
  /** The model's vocabulary size (default 256: one id per byte). */
  readonly vocab?: number;
}

/**
 * The text's windows as a dataset: inputs `[count, T]` byte ids, targets `[count, T]` (the next
 * byte of each position), the last tenth (at least one window) as the test split.
 *
 * @param text The file's bytes.
 * @param context Tokens per window.
 * @param vocab The vocabulary size every byte must be below.
 * @returns A tensor dataset with per-position labels.
 */
export function textWindows(text: Uint8Array, context: number, vocab = 256) {
  if (!Number.isSafeInteger(context) || context < 1) {
    throw new UserRangeError(
      `Cannot read text: --context must be a positive integer, got ${context}`,
    );
  }
  const count = Math.floor((text.length - 1) / context);
  if (count < 2) {
    throw new UserRangeError(
      `Cannot read text: ${text.length} bytes make ${count} window(s) of ${context} + 1 bytes; at least 2 are needed (a smaller --context, or a longer file)`,
    );
  }
  const high = text.findIndex((b) => b >= vocab);
  if (high >= 0) {
    throw new UserRangeError(
      `Cannot read text: byte ${
        text[high]
      } at offset ${high} is outside the model's vocabulary of ${vocab} ids`,
    );
  }
  const split = (from: number, to: number) => {
    const x = new BigInt64Array((to - from) * context), y = new BigInt64Array(x.length);
    for (let w = from; w < to; w++) {
      for (let t = 0; t < context; t++) {
        x[(w - from) * context + t] = BigInt(text[w * context + t]);
        y[(w - from) * context + t] = BigInt(text[w * context + t + 1]);
      }
    }
    return { x, y };
  };
  const tests = Math.max(1, Math.floor(count / 10));
  return tensorDataset({
    train: split(0, count - tests),
    test: split(count - tests, count),
    sampleShape: [context],
    labelShape: [context],
    classes: vocab,
  });
}

/**
 * The fine-tuning pipeline: AdamW (lr 3e-4), batch 8, 3 epochs, per-token cross-entropy.
 *
 * @param model Path of the exported model.
 * @param text Path of the text file.
 * @param options Context length and vocabulary size.
 * @returns The pipeline.
 */
export function lmFinetune(model: string, text: string, options: LmFinetuneOptions = {}) {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(text);
  } catch (e) {
    throw new UserRangeError(`Cannot read text file ${text}: ${(e as Error).message}`);
  }
  return pipeline()
    .data(textWindows(bytes, options.context ?? 64, options.vocab ?? 256), {
      batchSize: 8,
      shuffle: true,
    })
    .model(fromOnnx(model))
    .loss(crossEntropy())
    .optimizer(adamW({ lr: 3e-4 }))
    .epochs(3);
}

/** The line printed after each epoch's report: the test perplexity. */
export const perplexityLine = (r: EpochResult): string =>
  ` Perplexity: ${Math.exp(r.testLoss).toFixed(3)} (per-token test loss ${r.testLoss.toFixed(6)})`;

if (import.meta.main) {
  const [model, text, ...flags] = Deno.args;
  if (!model || !text || model.startsWith("-") || text.startsWith("-")) {
    console.error(
      "usage: deno run -P pipelines/lm_finetune.ts MODEL.onnx TEXT.txt [--context T] [--vocab V] [flags] (--help for flags)",
    );
    Deno.exit([model, text].some((a) => a === "--help" || a === "-h") ? 0 : 2);
  }
  await runCli(
    (f) =>
      lmFinetune(model, text, {
        ...(f.context !== undefined ? { context: Number(f.context) } : {}),
        ...(f.vocab !== undefined ? { vocab: Number(f.vocab) } : {}),
      }),
    flags,
    {
      flags: {
        context: "T  tokens per window, the model's sequence length (default 64)",
        vocab: "V  the model's vocabulary size; every byte must be below it (default 256)",
      },
      runOptions: { onEpoch: (r) => console.log(perplexityLine(r)) },
    },
  );
}
