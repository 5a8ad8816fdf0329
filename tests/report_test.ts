// The run's reporter: the metrics file's exact records (atomic rewrites, resume), the SVG plot's
// structure and values, quiet mode, and the progress line's text, throttling and clearing; the
// download progress message.
import { join } from "node:path";
import { downloadMessage } from "../src/data/idx_download.ts";
import {
  createReporter,
  type EpochRecord,
  formatCount,
  formatDuration,
  formatProgress,
  niceScale,
  plotSvg,
  readMetrics,
} from "../src/train/report.ts";
import type { EpochResult } from "../src/train/run.ts";
import { assert, assertRejectsMatch } from "./_assert.ts";
import { listDir, withTempDir } from "./_files.ts";

/** A clock the test moves by hand, in milliseconds. */
function fakeClock() {
  const clock = { t: 0, now: () => clock.t };
  return clock;
}

/** A terminal: the progress writer's bytes and the logged lines, in the order they came. */
function fakeTerminal() {
  const decoder = new TextDecoder();
  const term = {
    text: "",
    lines: [] as string[],
    writes: [] as string[],
    writer: {
      writeSync(bytes: Uint8Array) {
        // Takes at most 7 bytes a call: the reporter must loop until all are written.
        const n = Math.min(bytes.length, 7);
        const chunk = decoder.decode(bytes.subarray(0, n));
        term.text += chunk;
        term.writes.push(chunk);
        return n;
      },
    },
    log: (line: string) => {
      term.lines.push(line);
      term.text += line + "\n";
    },
  };
  return term;
}

const epochResult = (epoch: number, extra: Partial<EpochResult> = {}): EpochResult => ({
  epoch,
  trainLoss: 1 / epoch,
  testLoss: 1.25 / epoch,
  accuracy: 0.5 + epoch / 10,
  trainAccuracy: 0.375 + epoch / 10,
  trainSeconds: 1.5,
  dataSeconds: 0.125,
  lr: 0.1,
  ...extra,
});

/** 18 samples in batches of 4 (5 batches, the last of 2); a step record every 2 batches. */
const SMALL = { epochs: 2, batchesPerEpoch: 5, batchSize: 4, samplesPerEpoch: 18, logEvery: 2 };

/** Feeds one epoch of SMALL through a reporter, from batch `from`. */
async function feedEpoch(
  r: ReturnType<typeof createReporter>,
  epoch: number,
  from = 0,
  extra: Partial<EpochResult> = {},
) {
  r.log(`Epoch ${epoch}`);
  for (let batch = from; batch < 5; batch++) {
    r.onBatch({ epoch, batch, loss: 2 - epoch / 2 - batch / 10, lr: batch === 3 ? NaN : 0.1 });
  }
  await r.onEpoch(epochResult(epoch, extra));
}

Deno.test("metrics: a record per logged step and per epoch, rewritten atomically", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "out", "metrics.jsonl");
    const r = createReporter({ ...SMALL, log: () => {}, metricsPath: path });
    const validation = { validationLoss: 0.75, validationAccuracy: 0.625 };
    await feedEpoch(r, 1, 0, validation);
    const epoch1 = [
      '{"type":"step","epoch":1,"step":0,"samples":4,"loss":1.5,"lr":0.1}',
      '{"type":"step","epoch":1,"step":2,"samples":12,"loss":1.3,"lr":0.1}',
      '{"type":"step","epoch":1,"step":4,"samples":18,"loss":1.1,"lr":0.1}',
      '{"type":"epoch","epoch":1,"train_loss":1,"test_loss":1.25,"accuracy":0.6,"train_accuracy":0.475,' +
      '"validation_loss":0.75,"validation_accuracy":0.625,"seconds":1.5,"data_seconds":0.125,' +
      '"samples_per_s":12,"lr":0.1}',
    ];
    // Written at the epoch's end, whole, with no temporary file left.
    assert.equal(await Deno.readTextFile(path), epoch1.join("\n") + "\n");
    assert.deepEqual(listDir(join(dir, "out")), ["metrics.jsonl"]);
    // A NaN accuracy (regression) and loss are written as null.
    await feedEpoch(r, 2, 0, {
      ...validation,
      accuracy: NaN,
      trainAccuracy: NaN,
      validationAccuracy: NaN,
    });
    const epoch2 = [
      '{"type":"step","epoch":2,"step":0,"samples":4,"loss":1,"lr":0.1}',
      '{"type":"step","epoch":2,"step":2,"samples":12,"loss":0.8,"lr":0.1}',
      '{"type":"step","epoch":2,"step":4,"samples":18,"loss":0.6,"lr":0.1}',
      '{"type":"epoch","epoch":2,"train_loss":0.5,"test_loss":0.625,"accuracy":null,"train_accuracy":null,' +
      '"validation_loss":0.75,"validation_accuracy":null,"seconds":1.5,"data_seconds":0.125,' +
      '"samples_per_s":12,"lr":0.1}',
    ];
    await r.close();
    const text = await Deno.readTextFile(path);
    assert.equal(text, [...epoch1, ...epoch2].join("\n") + "\n");
    // Every line parses, and readMetrics returns the records the reporter holds.
    assert.deepEqual(await readMetrics(path), JSON.parse(JSON.stringify(r.records)));
    assert.equal(r.records.length, 8);
  });
});

Deno.test("metrics: step records lie at multiples of logEvery; lr NaN gives null", () => {
  const r = createReporter({ ...SMALL, logEvery: 3, log: () => {} });
  for (let batch = 0; batch < 5; batch++) r.onBatch({ epoch: 1, batch, loss: 0.5, lr: NaN });
  assert.deepEqual(r.records, [
    { type: "step", epoch: 1, step: 0, samples: 4, loss: 0.5, lr: null },
    { type: "step", epoch: 1, step: 3, samples: 16, loss: 0.5, lr: null },
  ]);
});

Deno.test("metrics: a resumed run keeps the records before its position", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "metrics.jsonl");
    assert.deepEqual(await readMetrics(path), []);
    const first = createReporter({ ...SMALL, log: () => {}, metricsPath: path });
    await feedEpoch(first, 1);
    // Interrupted in epoch 2 after batch 2; the checkpoint holds epoch 1, batch 3; the records of
    // batches after the checkpoint (step 4, never written here) would be dropped too.
    for (let batch = 0; batch < 3; batch++) first.onBatch({ epoch: 2, batch, loss: 1, lr: 0.1 });
    await first.close();
    const written = await readMetrics(path);
    assert.equal(written.length, 6);
    const resumed = createReporter({
      ...SMALL,
      log: () => {},
      metricsPath: path,
      initialRecords: [
        ...written,
        { type: "step", epoch: 2, step: 4, samples: 18, loss: 9, lr: 0.1 },
      ],
      resumeAt: { epoch: 1, batch: 3 },
    });
    assert.deepEqual(
      resumed.records.map((r) => `${r.type} ${r.epoch} ${r.type === "step" ? r.step : ""}`),
      ["step 1 0", "step 1 2", "step 1 4", "epoch 1 ", "step 2 0", "step 2 2"],
    );
    // Batches 3 and 4 of epoch 2: 6 samples in the epoch's 1.5 s.
    await feedEpoch(resumed, 2, 3);
    await resumed.close();
    const records = await readMetrics(path);
    assert.deepEqual(records.map((r) => r.type === "step" ? r.step : -r.epoch), [
      0,
      2,
      4,
      -1,
      0,
      2,
      4,
      -2,
    ]);
    assert.equal((records[7] as EpochRecord).samples_per_s, 4);
    // Resuming at the start of epoch 2 drops every record of epoch 2.
    const atEpoch = createReporter({
      ...SMALL,
      initialRecords: records,
      resumeAt: { epoch: 1, batch: 0 },
    });
    assert.equal(atEpoch.records.length, 4);
    await Deno.writeTextFile(path, '{"type":"step"}\nnot json\n');
    await assertRejectsMatch(
      () => readMetrics(path),
      RangeError,
      `Cannot read metrics ${path}: line 2 is not a metrics record`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The plot

interface Element {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: Element[];
  text: string;
}

/**
 * Parses an XML document of elements, attributes in double quotes and text (no comments, CDATA
 * or processing instructions, which the plot does not use), asserting it is well formed.
 */
function parseXml(xml: string): Element {
  const root: Element = { name: "#document", attrs: {}, children: [], text: "" };
  const stack = [root];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    assert.ok(!/[>]|&(?!(amp|lt|gt|quot|apos);)/.test(text), `bad text ${JSON.stringify(text)}`);
    stack[stack.length - 1].text += text;
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    assert.ok(m, `malformed tag at ${xml.slice(lt, lt + 40)}`);
    const [all, closing, name, attrText, selfClosing] = m;
    if (closing) {
      assert.equal(stack.pop()!.name, name, `unbalanced </${name}>`);
    } else {
      const attrs: Record<string, string> = {};
      for (const [, k, v] of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        assert.ok(!(k in attrs), `duplicate attribute ${k}`);
        attrs[k] = v;
      }
      const element: Element = { name, attrs, children: [], text: "" };
      stack[stack.length - 1].children.push(element);
      if (!selfClosing) stack.push(element);
    }
    i = lt + all.length;
  }
  assert.equal(stack.length, 1, "unclosed elements");
  assert.equal(root.children.length, 1, "one root element");
  assert.equal(root.text.trim(), "");
  return root.children[0];
}

function* walk(e: Element): Generator<Element> {
  yield e;
  for (const c of e.children) yield* walk(c);
}
const find = (e: Element, pred: (x: Element) => boolean) => [...walk(e)].filter(pred);
const cls = (name: string, c: string) => (x: Element) =>
  x.name === name && (x.attrs.class ?? "").split(" ").includes(c);

const epochRecord = (epoch: number, fields: Partial<EpochRecord>): EpochRecord => ({
  type: "epoch",
  epoch,
  train_loss: null,
  test_loss: null,
  accuracy: null,
  seconds: 1,
  data_seconds: 0,
  samples_per_s: 1,
  lr: 0.1,
  ...fields,
});

/** Ten epochs: losses from 2.1 to 0.3, accuracy from 43 % to 70 %, and a validation split. */
const TEN = Array.from({ length: 10 }, (_, i) => {
  const e = i + 1;
  return epochRecord(e, {
    train_loss: 2.3 - 0.2 * e,
    test_loss: 2.2 - 0.18 * e,
    validation_loss: 2.21 - 0.18 * e,
    accuracy: 0.4 + 0.03 * e,
    validation_accuracy: 0.39 + 0.03 * e,
  });
});

Deno.test("plot: a 10-epoch classification run with validation", () => {
  const svg = parseXml(plotSvg(TEN, { title: "fmnist & <co>" }));
  assert.equal(svg.name, "svg");
  assert.equal(svg.attrs.xmlns, "http://www.w3.org/2000/svg");
  const [w, h] = [Number(svg.attrs.width), Number(svg.attrs.height)];
  assert.ok(w >= 600 && h >= 400);
  assert.equal(svg.attrs.viewBox, `0 0 ${w} ${h}`);
  assert.equal(svg.children.find((c) => c.name === "title")?.text, "fmnist &amp; &lt;co&gt;");
  const panels = find(svg, cls("g", "panel"));
  assert.deepEqual(panels.map((p) => p.attrs["data-panel"]), ["Loss", "Accuracy (%)"]);
  const [loss, accuracy] = panels;
  // Axes, round ticks, axis labels.
  for (const p of panels) {
    assert.equal(find(p, cls("line", "axis")).length, 2);
    assert.deepEqual(find(p, cls("text", "x")).map((t) => t.text), [
      ..."123456789".split(""),
      "10",
      "Epoch",
    ]);
  }
  assert.deepEqual(find(loss, cls("text", "y")).map((t) => t.text), [
    "0.0",
    "0.5",
    "1.0",
    "1.5",
    "2.0",
    "2.5",
    "Loss",
  ]);
  assert.deepEqual(find(accuracy, cls("text", "y")).map((t) => t.text), [
    "40",
    "50",
    "60",
    "70",
    "80",
    "Accuracy (%)",
  ]);
  // One polyline per series with a point per epoch, inside the plot area and in order.
  const series = (p: Element) =>
    Object.fromEntries(
      find(p, cls("polyline", "series")).map((s) => [
        s.attrs["data-series"],
        s.attrs.points.split(" ").map((xy) => xy.split(",").map(Number)),
      ]),
    );
  const losses = series(loss), accuracies = series(accuracy);
  assert.deepEqual(Object.keys(losses), ["train loss", "test loss", "validation loss"]);
  assert.deepEqual(Object.keys(accuracies), ["test accuracy", "validation accuracy"]);
  for (const points of [...Object.values(losses), ...Object.values(accuracies)]) {
    assert.equal(points.length, 10);
    for (let k = 1; k < 10; k++) assert.ok(points[k][0] > points[k - 1][0]);
  }
  // Train loss falls (y grows downwards), accuracy rises; a value maps linearly onto the axis.
  const train = losses["train loss"], test = accuracies["test accuracy"];
  assert.ok(train[9][1] > train[0][1] && test[9][1] < test[0][1]);
  const ys = (p: Element) =>
    Object.fromEntries(find(p, cls("text", "y")).map((t) => [t.text, Number(t.attrs.y) - 4]));
  const lossY = ys(loss), accY = ys(accuracy);
  // Train loss 2.1 at epoch 1: between the 2.0 and 2.5 grid lines, a fifth of the way up.
  assert.ok(Math.abs(train[0][1] - (lossY["2.0"] + 0.2 * (lossY["2.5"] - lossY["2.0"]))) < 0.2);
  // Test accuracy 70 % at epoch 10: on the 70 grid line.
  assert.ok(Math.abs(test[9][1] - accY["70"]) < 0.2);
  assert.equal(find(svg, cls("circle", "point")).length, 50);
  // The legend: each series with its last value.
  assert.deepEqual(find(svg, cls("g", "legend")).map((g) => g.children.at(-1)!.text), [
    "train loss 0.3000",
    "test loss 0.4000",
    "validation loss 0.4100",
    "test accuracy 70.0%",
    "validation accuracy 69.0%",
  ]);
});

Deno.test("plot: one epoch shows single points; regression has no accuracy panel", () => {
  const one = parseXml(
    plotSvg([epochRecord(1, { train_loss: 2.15, test_loss: 2.1667, accuracy: 0.509 })]),
  );
  assert.deepEqual(find(one, cls("g", "panel")).length, 2);
  for (const s of find(one, cls("polyline", "series"))) {
    assert.equal(s.attrs.points.split(" ").length, 1);
  }
  assert.equal(find(one, cls("circle", "point")).length, 3);
  // A lone epoch gets one tick, centred; the values get ticks around them.
  const [loss] = find(one, cls("g", "panel"));
  const xTicks = find(loss, cls("text", "x")).filter((t) => t.text !== "Epoch");
  assert.deepEqual(xTicks.map((t) => t.text), ["1"]);
  const axis = find(loss, cls("line", "x"))[0];
  assert.equal(Number(xTicks[0].attrs.x), (Number(axis.attrs.x1) + Number(axis.attrs.x2)) / 2);
  const lossTicks = find(loss, cls("text", "y")).map((t) => Number(t.text)).filter((v) => v);
  assert.ok(lossTicks[0] < 2.15 && lossTicks.at(-1)! > 2.1667);

  const regression = Array.from(
    { length: 6 },
    (_, i) => epochRecord(i + 1, { train_loss: 1 / (i + 1), test_loss: 1.1 / (i + 1) }),
  );
  const text = plotSvg(regression);
  const svg = parseXml(text);
  assert.deepEqual(find(svg, cls("g", "panel")).map((p) => p.attrs["data-panel"]), ["Loss"]);
  assert.deepEqual(
    find(svg, cls("polyline", "series")).map((s) => s.attrs["data-series"]),
    ["train loss", "test loss"],
  );
  assert.ok(!text.includes("ccuracy"));
  // Whole epochs only on the x axis.
  assert.deepEqual(
    find(svg, cls("text", "x")).map((t) => t.text),
    ["1", "2", "3", "4", "5", "6", "Epoch"],
  );
  assert.equal(find(svg, cls("text", "y"))[0].text, "0.0");
  // Fewer, round epoch ticks for long runs.
  const long = parseXml(
    plotSvg(Array.from({ length: 57 }, (_, i) => epochRecord(i + 1, { train_loss: 1 }))),
  );
  assert.deepEqual(
    find(long, cls("text", "x")).map((t) => t.text),
    ["1", "10", "20", "30", "40", "50", "Epoch"],
  );
});

Deno.test("plot: written at each epoch's end and parses each time", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "plot.svg");
    const r = createReporter({ ...SMALL, epochs: 3, log: () => {}, plotPath: path, title: "t" });
    for (let epoch = 1; epoch <= 3; epoch++) {
      await feedEpoch(r, epoch);
      const svg = parseXml(await Deno.readTextFile(path));
      const lines = find(svg, cls("polyline", "series"));
      for (const s of lines.filter((s) => !s.attrs.class.includes("steps"))) {
        assert.equal(s.attrs.points.split(" ").length, epoch);
      }
      // The training loss along the run: a point per batch here (5 batches an epoch, so one
      // batch a chunk), each at its fraction of the epoch; an epoch's last one at the epoch.
      const steps = lines.filter((s) => s.attrs.class.includes("steps"));
      assert.deepEqual(steps.map((s) => s.attrs["data-series"]), ["train loss (steps)"]);
      const points = steps[0].attrs.points.split(" ").map((p) => p.split(",").map(Number));
      assert.equal(points.length, 5 * epoch);
      const trainLine = lines.find((s) => s.attrs["data-series"] === "train loss")!;
      const epochXs = trainLine.attrs.points.split(" ").map((p) => Number(p.split(",")[0]));
      assert.equal(points[5 * epoch - 1][0], epochXs[epoch - 1]);
      for (let k = 1; k < points.length; k++) assert.ok(points[k][0] > points[k - 1][0]);
      assert.deepEqual(listDir(dir), ["plot.svg"]);
    }
    await r.close();
  });
});

Deno.test("niceScale picks round steps covering the values", () => {
  assert.deepEqual(niceScale(0.228, 2.172).ticks, [0, 0.5, 1, 1.5, 2, 2.5]);
  assert.deepEqual(niceScale(40.88, 71.12).ticks, [40, 50, 60, 70, 80]);
  assert.deepEqual(niceScale(0.0012, 0.0049).ticks, [0.001, 0.002, 0.003, 0.004, 0.005]);
  assert.equal(niceScale(0.0012, 0.0049).decimals, 3);
  // Equal ends are padded by 10 %.
  assert.deepEqual(niceScale(5, 5).ticks, [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
});

// ---------------------------------------------------------------------------------------------
// Quiet mode

Deno.test("quiet: only the last epoch's test report, at close", async () => {
  const term = fakeTerminal();
  const r = createReporter({ ...SMALL, quiet: true, log: term.log, progress: term.writer });
  await feedEpoch(r, 1);
  r.log("Test Error: ");
  r.log(" Accuracy: 60.0%, Avg loss: 1.250000 ");
  await feedEpoch(r, 2);
  r.log("Done!");
  assert.deepEqual(term.lines, []);
  await r.close();
  assert.deepEqual(term.lines, ["Test Error: ", " Accuracy: 70.0%, Avg loss: 0.625000 "]);
  await r.close(); // once only
  assert.equal(term.lines.length, 2);
  // No progress line either.
  assert.equal(term.text, "Test Error: \n Accuracy: 70.0%, Avg loss: 0.625000 \n");

  const lines: string[] = [];
  const regression = createReporter({ ...SMALL, quiet: true, log: (l) => lines.push(l) });
  await feedEpoch(regression, 1, 0, { accuracy: NaN, testLoss: 0.0123456 });
  await regression.close();
  assert.deepEqual(lines, ["Test Error: ", " Avg loss: 0.012346 "]);
  // A run that ends before its first epoch shows nothing.
  const none: string[] = [];
  await createReporter({ ...SMALL, quiet: true, log: (l) => none.push(l) }).close();
  assert.deepEqual(none, []);
});

// ---------------------------------------------------------------------------------------------
// The progress line

Deno.test("progress line: format, clearing before each logged line, throttling, finish", async () => {
  const term = fakeTerminal(), clock = fakeClock();
  const r = createReporter({
    ...SMALL,
    log: term.log,
    progress: term.writer,
    now: clock.now,
    logEvery: 100,
  });
  const batch = (at: number, b: number, loss: number) => {
    clock.t = at;
    r.onBatch({ epoch: 1, batch: b, loss, lr: 0.1 });
  };
  clock.t = 500;
  r.log("Epoch 1"); // the epoch's clock starts here
  batch(1500, 0, 0.5); // drawn: 4 samples in 1 s, 4 batches left at 1 s each
  batch(1550, 1, 0.7); // not drawn: 50 ms after the last
  clock.t = 1560;
  r.log("loss: 0.700000  [    8/   18]");
  batch(1650, 2, 0.9); // drawn: 100 ms after the last
  batch(1700, 3, 1.1); // not drawn
  batch(2500, 4, 1.3); // the last batch: finished, 18 samples in 2 s
  clock.t = 2600;
  r.log("Test Error: ");
  await r.onEpoch(epochResult(1));
  await r.close();
  const clear = "\r\x1b[K";
  const l1 = "Epoch 1/2  [=>            ] 1/5  4 samples/s  loss 0.5000  ETA 0:04";
  const l2 = "Epoch 1/2  [=======>      ] 3/5  10 samples/s  loss 0.7000  ETA 0:01";
  const l3 = "Epoch 1/2  [==============] 5/5  9 samples/s  loss 0.9000  in 0:02";
  assert.equal(
    term.text,
    "Epoch 1\n" +
      `${clear}${l1}` +
      // The logged line: the progress line cleared first, redrawn after.
      `${clear}loss: 0.700000  [    8/   18]\n${l1}` +
      `${clear}${l2}` +
      `${clear}${l3}\n` +
      "Test Error: \n",
  );
  assert.deepEqual(term.lines, ["Epoch 1", "loss: 0.700000  [    8/   18]", "Test Error: "]);
  // Every line of the terminal: a logged line, or a progress line's last state.
  const shown = term.text.split("\n").map((line) => line.split("\r").at(-1)!.replace("\x1b[K", ""));
  assert.deepEqual(shown, ["Epoch 1", "loss: 0.700000  [    8/   18]", l3, "Test Error: ", ""]);
});

Deno.test("progress line: at most 10 redraws a second; an interrupted line is ended", async () => {
  const term = fakeTerminal(), clock = fakeClock();
  const r = createReporter({
    epochs: 1,
    batchesPerEpoch: 1000,
    batchSize: 64,
    log: term.log,
    progress: term.writer,
    now: clock.now,
  });
  // 500 batches in 1 s, in runs of 16 at once (as the K-step loop reports them).
  for (let b = 0; b < 500; b++) {
    clock.t = 2 * (b - (b % 16));
    r.onBatch({ epoch: 1, batch: b, loss: 0.25, lr: 0.1 });
  }
  const draws = term.text.split("\r\x1b[K").slice(1);
  // Runs come every 32 ms: a redraw at the first run 100 ms or more after the last redraw.
  assert.deepEqual(draws.length, 8);
  const last = draws.at(-1)!;
  assert.match(
    last,
    /^Epoch 1\/1 {2}\[=====> +\] 4\d\d\/1000 {2}\d\d,\d\d\d samples\/s {2}loss 0\.2500 {2}ETA 0:01$/,
  );
  await r.close();
  assert.ok(term.text.endsWith(`${last}\n`));
});

Deno.test("formatProgress, formatCount, formatDuration", () => {
  const state = {
    epoch: 3,
    epochs: 10,
    done: 412,
    total: 938,
    samplesPerSecond: 12345.4,
    loss: 0.51234,
    seconds: 12,
  };
  assert.equal(
    formatProgress(state),
    "Epoch 3/10  [====>       ] 412/938  12,345 samples/s  loss 0.5123  ETA 0:12",
  );
  assert.equal(
    formatProgress({ ...state, done: 938, seconds: 3725, finished: true, columns: 100 }),
    "Epoch 3/10  [==============================] 938/938  12,345 samples/s  loss 0.5123  in 1:02:05",
  );
  // Not measured yet; a diverged loss; a narrow terminal drops the bar, then cuts the line.
  assert.equal(
    formatProgress({ ...state, done: 0, samplesPerSecond: NaN, loss: NaN, seconds: NaN }),
    "Epoch 3/10  [            ] 0/938  - samples/s  loss -  ETA -:--",
  );
  assert.equal(
    formatProgress({ ...state, loss: 123456, columns: 62 }),
    "Epoch 3/10 412/938  12,345 samples/s  loss 1.235e+5  ETA 0:12",
  );
  assert.equal(formatProgress({ ...state, columns: 40 }).length, 40);
  assert.deepEqual([0, 999.5, 1234567].map(formatCount), ["0", "1,000", "1,234,567"]);
  assert.deepEqual(
    [0, 7.4, 59.6, 754, 3600, -1, Infinity].map(formatDuration),
    ["0:00", "0:07", "1:00", "12:34", "1:00:00", "-:--", "-:--"],
  );
});

Deno.test("download progress shows bytes, rate and ETA", () => {
  assert.equal(
    downloadMessage("t.gz", 11.1e6, 26.4e6, 3.5),
    "Downloading t.gz: 42% (11.1/26.4 MB, 3.2 MB/s, ETA 0:05)",
  );
  assert.equal(
    downloadMessage("t.gz", 26.4e6, 26.4e6, 8),
    "Downloading t.gz: 100% (26.4/26.4 MB, 3.3 MB/s, ETA 0:00)",
  );
  assert.equal(downloadMessage("t.gz", 0, 26.4e6, 0), "Downloading t.gz: 0% (0.0/26.4 MB)");
  assert.equal(downloadMessage("t.gz", 5e6, 0, 2), "Downloading t.gz: 5.0 MB (2.5 MB/s)");
});

Deno.test("runPipeline: --metrics, --plot, --quiet and the progress line on a real run", async () => {
  await withTempDir(async (dir) => {
    const { adam, crossEntropy, linear, pipeline, relu, sequential, tensorDataset } = await import(
      "../mod.ts"
    );
    const n = 96;
    const x = Float32Array.from({ length: 4 * n }, (_, i) => Math.sin(1.7 * i));
    const y = Array.from(
      { length: n },
      (_, i) => (x[4 * i] > 0 ? 1 : 0) + (x[4 * i + 1] > 0 ? 1 : 0),
    );
    const p = pipeline()
      .data(tensorDataset({ train: { x, y }, test: { x, y }, sampleShape: [4] }), { batchSize: 8 })
      .model(sequential(linear(4, 16), relu(), linear(16, 3)))
      .loss(crossEntropy())
      .optimizer(adam({ lr: 0.01 }))
      .seed(4)
      .epochs(3);
    const lines: string[] = [], bytes: number[] = [];
    const metricsPath = join(dir, "metrics.jsonl"), plotPath = join(dir, "plot.svg");
    const result = await p.run({
      log: (line) => lines.push(line),
      logEvery: 5,
      metricsPath,
      plotPath,
      quiet: true,
      progress: { writeSync: (b) => (bytes.push(...b), b.length) },
    });
    // Quiet: only the final test report.
    const last = result.epochs.at(-1)!;
    assert.deepEqual(lines, [
      "Test Error: ",
      ` Accuracy: ${(100 * last.accuracy).toFixed(1)}%, Avg loss: ${last.testLoss.toFixed(6)} `,
    ]);
    assert.equal(bytes.length, 0, "quiet hides the progress line");
    const records = (await Deno.readTextFile(metricsPath)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    // 12 batches an epoch, logged at batches 0, 5 and 10; then the epoch record.
    assert.deepEqual(
      records.map((r) => `${r.type}:${r.epoch}:${r.step ?? ""}`),
      [1, 2, 3].flatMap((e) => [`step:${e}:0`, `step:${e}:5`, `step:${e}:10`, `epoch:${e}:`]),
    );
    assert.equal(records[3].test_loss, result.epochs[0].testLoss);
    assert.equal(records[3].accuracy, result.epochs[0].accuracy);
    const svg = await Deno.readTextFile(plotPath);
    assert.match(svg, /^<svg[^>]*viewBox=/);
    assert.ok(!listDir(dir).some((f) => f.endsWith(".tmp")));
    // Not quiet: the tutorial's lines unchanged, with the progress line drawn on the writer.
    const loud: string[] = [];
    await p.run({
      log: (line) => loud.push(line),
      progress: { writeSync: (b) => (bytes.push(...b), b.length) },
    });
    assert.equal(loud[0], "Epoch 1");
    assert.match(new TextDecoder().decode(Uint8Array.from(bytes)), /Epoch 1\/3 .*12\/12/);
  });
});
