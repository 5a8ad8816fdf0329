import {
  constantLR,
  cosineAnnealingLR,
  exponentialLR,
  linearLR,
  multiStepLR,
  oneCycleLR,
  reduceLROnPlateau,
  type Schedule,
  sequentialLR,
  stepLR,
} from "../src/dsl/schedules.ts";
import { adagrad, adam, type Optimizer, sgd } from "../src/dsl/optimizers.ts";
import { tensorDataset } from "../src/dsl/datasets.ts";
import { linear } from "../src/dsl/layers.ts";
import { crossEntropy } from "../src/dsl/losses.ts";
import { pipeline } from "../src/pipeline.ts";
import { createScheduler, scheduledOptimizer } from "../src/train/schedule.ts";
import { assert, assertClose, assertThrowsMatch } from "./_assert.ts";

// Generated with PyTorch 1.13 (/usr/bin/python3, torch.optim.lr_scheduler): the lr of each
// parameter group after construction and after each of 20 steps (see the test for each setup).
const TORCH = {
  stepLR: [
    [0.1],
    [0.1],
    [0.1],
    [0.05],
    [0.05],
    [0.05],
    [0.025],
    [0.025],
    [0.025],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.003125],
    [0.003125],
    [0.003125],
    [0.0015625],
    [0.0015625],
    [0.0015625],
  ],
  multiStepLR: [
    [0.1],
    [0.1],
    [0.05],
    [0.05],
    [0.05],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
    [0.00625],
  ],
  exponentialLR: [
    [0.1],
    [0.09000000000000001],
    [0.08100000000000002],
    [0.07290000000000002],
    [0.06561000000000002],
    [0.05904900000000002],
    [0.05314410000000002],
    [0.04782969000000002],
    [0.043046721000000024],
    [0.03874204890000002],
    [0.03486784401000002],
    [0.03138105960900001],
    [0.028242953648100012],
    [0.025418658283290013],
    [0.022876792454961013],
    [0.020589113209464913],
    [0.01853020188851842],
    [0.01667718169966658],
    [0.015009463529699923],
    [0.013508517176729932],
    [0.01215766545905694],
  ],
  cosineAnnealingLR: [
    [0.1],
    [0.09336825748732973],
    [0.07525000000000001],
    [0.0505],
    [0.025750000000000012],
    [0.007631742512670284],
    [0.001],
    [0.007631742512670284],
    [0.025750000000000002],
    [0.05050000000000004],
    [0.07525000000000008],
    [0.0933682574873298],
    [0.1000000000000001],
    [0.09336825748732981],
    [0.07525000000000011],
    [0.050500000000000114],
    [0.025750000000000068],
    [0.007631742512670285],
    [0.001],
    [0.007631742512670284],
    [0.025750000000000096],
  ],
  linearLR: [
    [0.025],
    [0.043750000000000004],
    [0.06250000000000001],
    [0.08125000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
    [0.10000000000000002],
  ],
  constantLR: [
    [0.05],
    [0.05],
    [0.05],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
  ],
  warmupCosine: [
    [0.010000000000000002],
    [0.04],
    [0.07],
    [0.1],
    [0.09755282581475769],
    [0.09045084971874738],
    [0.07938926261462367],
    [0.06545084971874739],
    [0.05000000000000001],
    [0.03454915028125264],
    [0.020610737385376353],
    [0.009549150281252635],
    [0.002447174185242324],
    [0.0],
    [0.0024471741852423235],
    [0.009549150281252666],
    [0.020610737385376433],
    [0.034549150281252786],
    [0.050000000000000225],
    [0.06545084971874766],
    [0.079389262614624],
  ],
  sequential3: [
    [0.05],
    [0.05],
    [0.1],
    [0.1],
    [0.1],
    [0.08000000000000002],
    [0.06400000000000002],
    [0.051200000000000016],
    [0.04096000000000002],
    [0.1],
    [0.1],
    [0.05],
    [0.05],
    [0.025],
    [0.025],
    [0.0125],
    [0.0125],
    [0.00625],
    [0.00625],
    [0.003125],
    [0.003125],
  ],
  oneCycleSgd: {
    "lr": [
      [0.040000000000000036],
      [0.1316718427000253],
      [0.3716718427000253],
      [0.6683281572999747],
      [0.9083281572999747],
      [1.0],
      [0.9874640062350873],
      [0.9504846320134737],
      [0.89091617757105],
      [0.8117456539497631],
      [0.7169430017913008],
      [0.6112620219362893],
      [0.500002],
      [0.38874197806371075],
      [0.28306099820869923],
      [0.18825834605023697],
      [0.10908782242895004],
      [0.049519367986526286],
      [0.012539993764912554],
      [4e-06],
      [0.012539993764912554],
    ],
    "momentum": [
      [0.95],
      [0.9404508497187474],
      [0.9154508497187474],
      [0.8845491502812526],
      [0.8595491502812526],
      [0.85],
      [0.8512536043909088],
      [0.854951556604879],
      [0.8609084258765984],
      [0.8688255099070633],
      [0.878305813044122],
      [0.8888739533021842],
      [0.8999999999999999],
      [0.9111260466978157],
      [0.9216941869558779],
      [0.9311744900929366],
      [0.9390915741234015],
      [0.945048443395121],
      [0.9487463956090911],
      [0.95],
      [0.9487463956090911],
    ],
  },
  oneCycleAdam3: {
    "lr": [
      [0.0004],
      [0.0028000000000000004],
      [0.005200000000000001],
      [0.007600000000000001],
      [0.01],
      [0.0076],
      [0.0052],
      [0.0027999999999999995],
      [0.0003999999999999993],
      [0.00036364000000000004],
      [0.00032728],
      [0.00029092],
      [0.00025456000000000003],
      [0.00021820000000000002],
      [0.00018184],
      [0.00014548000000000002],
      [0.00010911999999999999],
      [7.275999999999995e-05],
      [3.640000000000002e-05],
      [3.999999999997929e-08],
      [-3.6320000000000005e-05],
    ],
    "momentum": [
      [0.95],
      [0.9249999999999999],
      [0.8999999999999999],
      [0.875],
      [0.85],
      [0.875],
      [0.8999999999999999],
      [0.9249999999999999],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
      [0.95],
    ],
  },
  twoGroupsStepLR: [
    [0.1, 0.01],
    [0.1, 0.01],
    [0.1, 0.01],
    [0.1, 0.01],
    [0.010000000000000002, 0.001],
    [0.010000000000000002, 0.001],
    [0.010000000000000002, 0.001],
    [0.010000000000000002, 0.001],
    [0.0010000000000000002, 0.0001],
    [0.0010000000000000002, 0.0001],
    [0.0010000000000000002, 0.0001],
    [0.0010000000000000002, 0.0001],
    [0.00010000000000000003, 1e-05],
    [0.00010000000000000003, 1e-05],
    [0.00010000000000000003, 1e-05],
    [0.00010000000000000003, 1e-05],
    [1.0000000000000004e-05, 1.0000000000000002e-06],
    [1.0000000000000004e-05, 1.0000000000000002e-06],
    [1.0000000000000004e-05, 1.0000000000000002e-06],
    [1.0000000000000004e-05, 1.0000000000000002e-06],
    [1.0000000000000004e-06, 1.0000000000000002e-07],
  ],
  twoGroupsCosine: [
    [0.1, 0.03],
    [0.09045084971874738, 0.02713525491562421],
    [0.06545084971874737, 0.01963525491562421],
    [0.03454915028125263, 0.010364745084375787],
    [0.009549150281252633, 0.002864745084375789],
    [0.0, 0.0],
    [0.009549150281252628, 0.002864745084375788],
    [0.03454915028125265, 0.010364745084375793],
    [0.06545084971874741, 0.01963525491562422],
    [0.09045084971874744, 0.027135254915624227],
    [0.10000000000000006, 0.030000000000000016],
    [0.09045084971874746, 0.027135254915624237],
    [0.06545084971874743, 0.019635254915624227],
    [0.03454915028125267, 0.0103647450843758],
    [0.009549150281252644, 0.0028647450843757934],
    [0.0, 0.0],
    [0.009549150281252628, 0.002864745084375788],
    [0.03454915028125265, 0.010364745084375793],
    [0.06545084971874743, 0.019635254915624227],
    [0.09045084971874746, 0.027135254915624237],
    [0.10000000000000013, 0.030000000000000037],
  ],
  plateauMin: [
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.05],
    [0.05],
    [0.05],
    [0.05],
    [0.05],
    [0.025],
    [0.025],
    [0.025],
    [0.025],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.0125],
    [0.01],
    [0.01],
  ],
  plateauMaxAbs: [
    [0.1],
    [0.1],
    [0.1],
    [0.1],
    [0.010000000000000002],
    [0.010000000000000002],
    [0.010000000000000002],
    [0.010000000000000002],
    [0.010000000000000002],
    [0.0010000000000000002],
    [0.0010000000000000002],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
    [0.0005],
  ],
};
const LOSSES = [
  1.0,
  0.9,
  0.895,
  0.894,
  0.893,
  0.95,
  0.8,
  0.81,
  0.805,
  0.8,
  0.79,
  0.7999,
  0.8,
  0.8,
  0.8,
  0.5,
  0.6,
  0.6,
  0.6,
  0.6,
];
const ACCURACY = [
  0.5,
  0.6,
  0.6,
  0.61,
  0.615,
  0.62,
  0.7,
  0.7,
  0.7,
  0.7,
  0.705,
  0.71,
  0.72,
  0.72,
  0.72,
  0.72,
  0.72,
  0.72,
  0.72,
  0.72,
];

type Fixture = number[][];

/** Steps `schedule` 20 times over a map of group rates; returns each group's rates, step by step. */
function sequence(
  schedule: Schedule,
  lrs: number[],
  extra: Record<string, number> = {},
  metrics?: number[],
  optimizer?: Optimizer,
) {
  const names = lrs.map((_, i) => (i === 0 ? "lr" : `lr.group${i}`));
  const hyper = new Map<string, number>([...names.map((n, i) => [n, lrs[i]] as const)]);
  for (const [k, v] of Object.entries(extra)) hyper.set(k, v);
  const s = createScheduler(schedule, hyper, { optimizer });
  const momentumName = Object.keys(extra)[0];
  const lr: number[][] = [names.map((n) => hyper.get(n)!)];
  const momentum: number[][] = momentumName ? [[hyper.get(momentumName)!]] : [];
  for (let i = 0; i < 20; i++) {
    s.step(metrics?.[i]);
    lr.push(names.map((n) => hyper.get(n)!));
    if (momentumName) momentum.push([hyper.get(momentumName)!]);
  }
  return { lr, momentum };
}

function assertSequence(actual: number[][], expected: Fixture, what: string) {
  assert.equal(actual.length, expected.length, `${what}: steps`);
  // Doubles throughout, as in Python; only libm's last bits may differ.
  actual.forEach((row, i) => {
    const scale = Math.max(...expected[i].map(Math.abs), 1e-300);
    assertClose(row, expected[i], 1e-13 * scale, `${what} after step ${i}`);
  });
}

Deno.test("stepLR, multiStepLR and exponentialLR follow torch.optim.lr_scheduler", () => {
  assertSequence(sequence(stepLR({ stepSize: 3, gamma: 0.5 }), [0.1]).lr, TORCH.stepLR, "stepLR");
  assertSequence(
    sequence(multiStepLR({ milestones: [2, 5, 5, 9], gamma: 0.5 }), [0.1]).lr,
    TORCH.multiStepLR,
    "multiStepLR (milestone 5 twice: gamma²)",
  );
  assertSequence(
    sequence(exponentialLR({ gamma: 0.9 }), [0.1]).lr,
    TORCH.exponentialLR,
    "exponentialLR",
  );
});

Deno.test("cosineAnnealingLR follows PyTorch's recursive form, restarts included", () => {
  assertSequence(
    sequence(cosineAnnealingLR({ tMax: 6, etaMin: 0.001 }), [0.1]).lr,
    TORCH.cosineAnnealingLR,
    "cosineAnnealingLR",
  );
  assertSequence(
    sequence(cosineAnnealingLR({ tMax: 5 }), [0.1, 0.03]).lr,
    TORCH.twoGroupsCosine,
    "cosineAnnealingLR over two groups",
  );
});

Deno.test("linearLR and constantLR warm up as PyTorch's", () => {
  assertSequence(
    sequence(linearLR({ startFactor: 0.25, endFactor: 1, totalIters: 4 }), [0.1]).lr,
    TORCH.linearLR,
    "linearLR",
  );
  assertSequence(
    sequence(constantLR({ factor: 0.5, totalIters: 3 }), [0.1]).lr,
    TORCH.constantLR,
    "constantLR",
  );
});

Deno.test("sequentialLR: warmup then cosine, and three schedules with closed-form restarts", () => {
  const warmupCosine = sequentialLR({
    schedules: [linearLR({ startFactor: 0.1, totalIters: 3 }), cosineAnnealingLR({ tMax: 10 })],
    milestones: [3],
  });
  assertSequence(sequence(warmupCosine, [0.1]).lr, TORCH.warmupCosine, "linear warmup + cosine");
  const three = sequentialLR({
    schedules: [
      constantLR({ factor: 0.5, totalIters: 2 }),
      exponentialLR({ gamma: 0.8 }),
      stepLR({ stepSize: 2, gamma: 0.5 }),
    ],
    milestones: [4, 9],
  });
  assertSequence(sequence(three, [0.1]).lr, TORCH.sequential3, "constant, exponential, step");
});

Deno.test("stepLR scales every parameter group's own rate", () => {
  assertSequence(
    sequence(stepLR({ stepSize: 4, gamma: 0.1 }), [0.1, 0.01]).lr,
    TORCH.twoGroupsStepLR,
    "two groups",
  );
});

Deno.test("oneCycleLR with SGD: cosine lr and inverse momentum, momentum introduced as PyTorch does", () => {
  const schedule = oneCycleLR({ maxLr: 1.0, totalSteps: 20 });
  // torch.optim.SGD(lr=0.1, momentum=0): OneCycleLR sets momentum to max_momentum at construction.
  const compiled = scheduledOptimizer(sgd({ lr: 0.1 }), schedule);
  assert.equal(compiled.kind === "sgd" && compiled.momentum, 0.95);
  const got = sequence(schedule, [0.1], { momentum: 0.95 }, undefined, compiled);
  assertSequence(got.lr, TORCH.oneCycleSgd.lr, "oneCycle lr");
  assertSequence(got.momentum, TORCH.oneCycleSgd.momentum, "oneCycle momentum");
});

Deno.test("oneCycleLR, three phases, linear, with Adam: β₁ cycles", () => {
  const schedule = oneCycleLR({
    maxLr: 0.01,
    totalSteps: 20,
    annealStrategy: "linear",
    threePhase: true,
    pctStart: 0.25,
  });
  const compiled = scheduledOptimizer(adam({ lr: 0.1 }), schedule);
  assert.deepEqual(compiled.kind === "adam" && compiled.betas, [0.95, 0.999]);
  const got = sequence(schedule, [0.1], { beta1: 0.95 }, undefined, compiled);
  assertSequence(got.lr, TORCH.oneCycleAdam3.lr, "oneCycle lr");
  assertSequence(got.momentum, TORCH.oneCycleAdam3.momentum, "oneCycle beta1");
});

Deno.test("oneCycleLR refuses a step past totalSteps and momentum cycling of Adagrad", () => {
  const hyper = new Map([["lr", 0.1]]);
  const s = createScheduler(oneCycleLR({ maxLr: 1, totalSteps: 3, cycleMomentum: false }), hyper);
  for (let i = 0; i < 3; i++) s.step();
  assertThrowsMatch(
    () => s.step(),
    RangeError,
    "Cannot step oneCycleLR: tried to step 5 times, but totalSteps is 3",
  );
  assertThrowsMatch(
    () => scheduledOptimizer(adagrad(), oneCycleLR({ maxLr: 1, totalSteps: 3 })),
    RangeError,
    /adagrad has no momentum or betas; set cycleMomentum: false/,
  );
  assertThrowsMatch(
    () => createScheduler(oneCycleLR({ maxLr: 1 }), new Map([["lr", 0.1]])),
    RangeError,
    /give totalSteps/,
  );
});

Deno.test("oneCycleLR defaults to the run's steps: epochs × batches per batch, epochs per epoch", () => {
  const perBatch = new Map([["lr", 0.1]]);
  const s = createScheduler(oneCycleLR({ maxLr: 1, cycleMomentum: false }), perBatch, {
    epochs: 2,
    batchesPerEpoch: 10,
  });
  for (let i = 0; i < 20; i++) s.afterBatch();
  assertThrowsMatch(() => s.afterBatch(), RangeError, /totalSteps is 20/);
  const perEpoch = new Map([["lr", 0.1]]);
  const e = createScheduler(
    oneCycleLR({ maxLr: 1, cycleMomentum: false, interval: "epoch" }),
    perEpoch,
    { epochs: 2, batchesPerEpoch: 10 },
  );
  // Two steps in all: warmup ends at step 0.3·2 − 1 < 0, so step 0 is already 2/7 into the anneal.
  const annealed = (pct: number) => 0.04e-4 + (1 - 0.04e-4) / 2 * (Math.cos(Math.PI * pct) + 1);
  assertClose([perEpoch.get("lr")!], [annealed(0.4 / 1.4)], 1e-15, "lr at step 0");
  e.afterBatch(); // not its interval: nothing happens
  assertClose([perEpoch.get("lr")!], [annealed(0.4 / 1.4)], 1e-15, "lr after a batch");
  const metrics = { testLoss: 1, trainLoss: 1, accuracy: 0 };
  e.afterEpoch(metrics);
  e.afterEpoch(metrics);
  assertThrowsMatch(() => e.afterEpoch(metrics), RangeError, /totalSteps is 2/);
});

Deno.test("reduceLROnPlateau: min/rel with cooldown and minLr, max/abs", () => {
  const min = reduceLROnPlateau({
    mode: "min",
    factor: 0.5,
    patience: 2,
    threshold: 0.01,
    cooldown: 1,
    minLr: 0.01,
  });
  assertSequence(sequence(min, [0.1], {}, LOSSES).lr, TORCH.plateauMin, "min, rel");
  const max = reduceLROnPlateau({
    mode: "max",
    factor: 0.1,
    patience: 1,
    threshold: 0.01,
    thresholdMode: "abs",
    minLr: 0.0005,
  });
  assertSequence(sequence(max, [0.1], {}, ACCURACY).lr, TORCH.plateauMaxAbs, "max, abs");
});

Deno.test("reduceLROnPlateau reads the epoch metric it is told to watch", () => {
  const hyper = new Map([["lr", 1]]);
  const s = createScheduler(
    reduceLROnPlateau({ patience: 0, metric: "accuracy", mode: "max" }),
    hyper,
  );
  s.afterEpoch({ testLoss: 9, trainLoss: 9, accuracy: 0.5 });
  s.afterBatch(); // epoch schedules ignore batches
  s.afterEpoch({ testLoss: 1, trainLoss: 1, accuracy: 0.6 });
  assert.equal(hyper.get("lr"), 1);
  s.afterEpoch({ testLoss: 0.5, trainLoss: 0.5, accuracy: 0.6 }); // no better: patience 0 exceeded
  assert.equal(hyper.get("lr"), 0.1);
  assertThrowsMatch(() => s.step(), RangeError, /needs a metric/);
});

Deno.test("a per-batch interval steps after each batch; a hand-set rate is honoured", () => {
  const hyper = new Map([["lr", 1]]);
  const s = createScheduler(exponentialLR({ gamma: 0.5, interval: "batch" }), hyper);
  s.afterBatch();
  s.afterEpoch({ testLoss: 0, trainLoss: 0, accuracy: 0 });
  assert.equal(s.lr, 0.5);
  hyper.set("lr", 8); // as editing param_groups[0]["lr"]: the recursive form continues from it
  s.afterBatch();
  assert.equal(s.lr, 4);
});

Deno.test("schedule builders check their arguments", () => {
  assertThrowsMatch(
    () => stepLR({ stepSize: 0 }),
    RangeError,
    "Cannot create stepLR: stepSize must be a positive integer, got 0",
  );
  assertThrowsMatch(
    () => linearLR({ startFactor: 0 }),
    RangeError,
    "Cannot create linearLR: startFactor must be in (0, 1], got 0",
  );
  assertThrowsMatch(
    () => sequentialLR({ schedules: [stepLR({ stepSize: 1 })], milestones: [2] }),
    RangeError,
    /one milestone fewer than schedules, got 1 schedules and 1 milestones/,
  );
  assertThrowsMatch(
    () => reduceLROnPlateau({ factor: 1 }),
    RangeError,
    "Cannot create reduceLROnPlateau: factor must be < 1, got 1",
  );
  assertThrowsMatch(
    () => createScheduler(stepLR({ stepSize: 1 }), new Map()),
    RangeError,
    /the train graph has no lr input/,
  );
});

// Through the training loop: a tiny in-memory classification set, 4 batches per epoch.
const rng = (() => {
  let s = 12345;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
})();
const xs = Float32Array.from({ length: 80 }, () => rng() * 2 - 1);
const data = tensorDataset({
  train: {
    x: xs,
    y: Array.from({ length: 40 }, (_, i) => (xs[2 * i] + xs[2 * i + 1] > 0 ? 1 : 0)),
  },
  test: { x: xs.slice(0, 20), y: Array.from({ length: 10 }, (_, i) => (xs[2 * i] > 0 ? 1 : 0)) },
  sampleShape: [2],
  classes: 2,
});
const tiny = () =>
  pipeline().data(data, { batchSize: 10 }).model(linear(2, 2)).loss(crossEntropy()).epochs(3).seed(
    1,
  );

Deno.test("a pipeline's schedule steps per epoch; lr reaches EpochResult and the callbacks", async () => {
  const batches: { epoch: number; batch: number; lr: number }[] = [];
  const epochs: number[] = [];
  const lines: string[] = [];
  const result = await tiny()
    .optimizer(sgd({ lr: 0.1 }))
    .schedule(stepLR({ stepSize: 1, gamma: 0.5 }))
    .run({
      log: (l) => lines.push(l),
      onBatch: ({ epoch, batch, lr, loss }) => {
        assert.ok(Number.isFinite(loss));
        batches.push({ epoch, batch, lr });
      },
      onEpoch: (r) => epochs.push(r.lr),
    });
  assert.deepEqual(result.epochs.map((e) => e.lr), [0.1, 0.05, 0.025]);
  assert.deepEqual(epochs, [0.1, 0.05, 0.025]);
  assert.equal(batches.length, 12);
  assert.deepEqual(batches.slice(3, 5), [{ epoch: 1, batch: 3, lr: 0.1 }, {
    epoch: 2,
    batch: 0,
    lr: 0.05,
  }]);
  // The log is the tutorial's, schedule or not.
  const plain: string[] = [];
  await tiny().optimizer(sgd({ lr: 0.1 })).run({ log: (l) => plain.push(l) });
  assert.deepEqual(
    lines.map((l) => l.replace(/[\d.]+/g, "#")),
    plain.map((l) => l.replace(/[\d.]+/g, "#")),
  );
  assert.equal(lines[0], plain[0]);
});

Deno.test("a pipeline's oneCycleLR steps per batch over the run's steps, cycling SGD's momentum", async () => {
  const p = tiny().optimizer(sgd({ lr: 0.1 })).schedule(oneCycleLR({ maxLr: 0.5 }));
  assert.deepEqual(p.compile().hyper.map((h) => [h.name, h.value]), [["lr", 0.1], [
    "momentum",
    0.95,
  ]]);
  const lrs: number[] = [];
  await p.run({ log: () => {}, onBatch: ({ lr }) => lrs.push(lr) });
  const hyper = new Map([["lr", 0.1], ["momentum", 0.95]]);
  const reference = createScheduler(oneCycleLR({ maxLr: 0.5, totalSteps: 12 }), hyper);
  const expected = [];
  for (let i = 0; i < 12; i++) {
    expected.push(hyper.get("lr")!);
    reference.step();
  }
  assertClose(lrs, expected, 1e-15, "lr per batch");
});

Deno.test("a pipeline's reduceLROnPlateau is fed each epoch's test loss", async () => {
  const metrics: number[] = [];
  const result = await tiny()
    .optimizer(sgd({ lr: 0 })) // no learning: the test loss stays, so the rate drops
    .schedule(reduceLROnPlateau({ patience: 0, factor: 0.5 }))
    .run({ log: () => {}, onEpoch: (r) => metrics.push(r.testLoss) });
  assert.equal(metrics[0], metrics[1]);
  // A rate of 0 cannot drop by more than eps (1e-8): it stays, as in PyTorch.
  assert.deepEqual(result.epochs.map((e) => e.lr), [0, 0, 0]);
  const moving = await tiny()
    .epochs(4)
    .optimizer(sgd({ lr: 1e-3 }))
    .schedule(reduceLROnPlateau({ patience: 0, factor: 0.5, threshold: 0.5 }))
    .run({ log: () => {} });
  // No epoch improves the loss by 50%: after the first (which sets the best), each halves the rate.
  assert.deepEqual(moving.epochs.map((e) => e.lr), [1e-3, 1e-3, 5e-4, 2.5e-4]);
});
