/**
 * pipelines/lm_finetune.ts: byte windows and their next-byte targets, the user errors, and
 * fine-tuning transformers' GPT-2 (a dynamo export, tests/fixtures/hf_gpt2.onnx, vocabulary 64,
 * context 8) on a text: per-token loss falls, the perplexity line is exp(per-token test loss).
 */
import { lmFinetune, perplexityLine, textWindows } from "../pipelines/lm_finetune.ts";
import type { EpochResult } from "../mod.ts";
import { UserRangeError } from "../src/util/user_error.ts";
import { assert, assertThrowsMatch } from "./_assert.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("textWindows: inputs and next-byte targets per window, the last tenth for testing", () => {
  const text = bytes("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"); // 46 bytes
  const set = textWindows(text, 4);
  // ⌊45 / 4⌋ = 11 windows of 4 + 1 bytes: 10 train, 1 test.
  assert.equal(set.train.count, 10);
  assert.equal(set.test.count, 1);
  assert.deepEqual(set.labelShape, [4]);
  const ids = (a: ArrayLike<bigint | number>) => String.fromCharCode(...Array.from(a, Number));
  assert.equal(ids((set.train.x as BigInt64Array).subarray(0, 8)), "abcdefgh");
  assert.equal(ids((set.train.y as BigInt64Array).subarray(0, 8)), "bcdefghi");
  assert.equal(ids(set.test.x as BigInt64Array), "EFGH");
  assert.equal(ids(set.test.y as BigInt64Array), "FGHI");
});

Deno.test("textWindows: a short text, a bad context or a byte past the vocabulary are user errors", () => {
  assertThrowsMatch(
    () => textWindows(bytes("abcdef"), 4),
    UserRangeError,
    "Cannot read text: 6 bytes make 1 window(s) of 4 + 1 bytes; at least 2 are needed (a smaller --context, or a longer file)",
  );
  assertThrowsMatch(
    () => textWindows(bytes("abcdef"), 0),
    UserRangeError,
    /--context must be a positive integer, got 0/,
  );
  assertThrowsMatch(
    () => textWindows(bytes("0123456789z"), 2, 64),
    UserRangeError,
    "Cannot read text: byte 122 at offset 10 is outside the model's vocabulary of 64 ids",
  );
  assertThrowsMatch(
    () => lmFinetune("m.onnx", "/no/such/text.txt"),
    UserRangeError,
    /Cannot read text file \/no\/such\/text\.txt/,
  );
});

Deno.test("lm_finetune fine-tunes GPT-2 (dynamo export) on a text: loss falls, perplexity = exp(loss)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "onnxtrain-lm-" });
  try {
    const text = `${dir}/text.txt`;
    await Deno.writeFile(text, bytes("0123 4567 89:; <=>? ".repeat(40)));
    const model = new URL("./fixtures/hf_gpt2.onnx", import.meta.url).pathname;
    const lines: string[] = [];
    const epochs: EpochResult[] = [];
    const result = await lmFinetune(model, text, { context: 8, vocab: 64 }).run({
      epochs: 2,
      seed: 3,
      log: (l) => lines.push(l),
      onEpoch: (r) => epochs.push(r),
    });
    assert.equal(epochs.length, 2);
    const [e1, e2] = result.epochs;
    assert.ok(e2.testLoss < e1.testLoss, `per-token test loss ${e1.testLoss} → ${e2.testLoss}`);
    assert.ok(
      e2.trainLoss < e1.trainLoss,
      `per-token train loss ${e1.trainLoss} → ${e2.trainLoss}`,
    );
    // A fresh 64-id model starts near ln 64 per token.
    assert.ok(Math.abs(e1.trainLoss - Math.log(64)) < 0.5, `${e1.trainLoss}`);
    assert.equal(
      perplexityLine(e2),
      ` Perplexity: ${Math.exp(e2.testLoss).toFixed(3)} (per-token test loss ${
        e2.testLoss.toFixed(6)
      })`,
    );
    // The log is the tutorial's, after the compile's notes on how GPT-2 was read.
    assert.match(lines.join("\n"), /note: layer 0 \(onnx\): kept tied model\.lm_head\.weight/);
    assert.ok(lines.includes("Epoch 1") && lines.includes("Done!"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
