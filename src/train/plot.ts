/**
 * The SVG plot of a run's metrics: loss per epoch and per logged step, accuracy per epoch.
 * @module
 */
import type { EpochRecord, MetricsRecord, StepRecord } from "./metrics_records.ts";

/** Tick values: a round step (1, 2 or 5 × 10^k) and the ticks covering [lo, hi]. */
interface Scale {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly decimals: number;
}

/**
 * A scale with round ticks covering `[lo, hi]`, extended outward to whole steps.
 *
 * @param lo The least value.
 * @param hi The greatest value.
 * @param count About how many intervals.
 * @returns The scale's ends, ticks and the decimals its labels need.
 */
export function niceScale(lo: number, hi: number, count = 5): Scale {
  if (hi - lo <= Math.abs(hi) * 1e-9) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, decimals };
}

/**
 * Epoch ticks: whole epochs, every 1, 2, 5, 10, … so that at most about 10 show; with `fractional`
 * (points within epochs) a run of up to 2 epochs gets round fractions (0, 0.2, 0.4, …).
 */
function epochScale(first: number, last: number, fractional = false): Scale {
  if (first === last) return { lo: first - 0.5, hi: first + 0.5, ticks: [first], decimals: 0 };
  if (fractional && last - first <= 2) {
    const nice = niceScale(first, last, 5);
    const pad = (last - first) * 0.03;
    const ticks = nice.ticks.filter((t) => t >= first && t <= last);
    return { lo: first - pad, hi: last + pad, ticks, decimals: nice.decimals };
  }
  const step = Math.max(1, niceScale(0, last - first, 10).ticks[1]);
  const ticks = [];
  for (let e = Math.ceil(first / step) * step; e <= last; e += step) ticks.push(e);
  if (ticks[0] !== first && (ticks[0] - first) / step > 0.5) ticks.unshift(first);
  const pad = (last - first) * 0.03;
  return { lo: first - pad, hi: last + pad, ticks, decimals: 0 };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const px = (x: number) => String(Math.round(x * 10) / 10);

interface Series {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  /** A thin, faint line without point markers (the logged steps' losses). */
  readonly faint?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

/** Options of {@linkcode plotSvg}. */
export interface PlotOptions {
  /** The title (default "Loss and accuracy per epoch", or "Loss per epoch"). */
  readonly title?: string;
  /** A line under the title, such as the run's settings. */
  readonly subtitle?: string;
  /**
   * Training samples per epoch, which places a step record at its fraction of the epoch (default:
   * the most samples any step record counts).
   */
  readonly samplesPerEpoch?: number;
  /**
   * The training loss along the run as `[epochs, loss]` points (an epoch's fraction from 0), such
   * as running means over every few batches; default: the step records' losses.
   */
  readonly steps?: readonly (readonly [number, number])[];
}

/** The colours of the splits: train blue, test orange, validation green. */
const COLORS = { train: "#1f77b4", test: "#e6550d", validation: "#2ca02c" } as const;

/** The plot's geometry. */
const W = 900, LEFT = 80, PLOT_W = 600, LEGEND_X = LEFT + PLOT_W + 24;

/**
 * An SVG plot of a run's records: a loss panel (train, test and, with a validation split,
 * validation loss per epoch, and the logged steps' training losses as a faint line, so that even
 * a one-epoch run shows its course) above an accuracy panel (train, test and validation accuracy
 * in %), the latter left out when no epoch has an accuracy (regression). Hand-written SVG, no
 * dependency: axes, round ticks, grid lines, axis labels, a legend, points joined by lines (one
 * `<polyline>` per series, one point per epoch, each a `<circle>` with its value as a tooltip; a
 * step at its fraction of the epoch).
 *
 * @param records The metrics records, in order (step records are optional).
 * @param options The title and subtitle; samples per epoch.
 * @returns The SVG document.
 */
export function plotSvg(
  records: readonly MetricsRecord[],
  options: PlotOptions = {},
): string {
  const epochs = records.filter((r): r is EpochRecord => r.type === "epoch");
  const steps = records.filter((r): r is StepRecord => r.type === "step");
  const perEpoch = options.samplesPerEpoch ?? Math.max(1, ...steps.map((r) => r.samples));
  const stepLosses: Series = {
    name: "train loss (steps)",
    color: COLORS.train,
    faint: true,
    points: options.steps ??
      steps.flatMap((r) =>
        r.loss === null ? [] : [[r.epoch - 1 + Math.min(1, r.samples / perEpoch), r.loss] as const]
      ),
  };
  const series = (
    name: string,
    color: string,
    value: (r: EpochRecord) => number | null | undefined,
    scale = 1,
    dash?: string,
  ): Series => ({
    name,
    color,
    dash,
    points: epochs.flatMap((r) => {
      const v = value(r);
      return typeof v === "number" && Number.isFinite(v) ? [[r.epoch, v * scale] as const] : [];
    }),
  });
  const losses = [
    stepLosses,
    series("train loss", COLORS.train, (r) => r.train_loss),
    series("test loss", COLORS.test, (r) => r.test_loss),
    series("validation loss", COLORS.validation, (r) => r.validation_loss, 1, "6 4"),
  ].filter((s) => s.points.length);
  const accuracies = [
    series("train accuracy", COLORS.train, (r) => r.train_accuracy, 100),
    series("test accuracy", COLORS.test, (r) => r.accuracy, 100),
    series("validation accuracy", COLORS.validation, (r) => r.validation_accuracy, 100, "6 4"),
  ].filter((s) => s.points.length);

  const title = options.title ??
    (accuracies.length ? "Loss and accuracy per epoch" : "Loss per epoch");
  const panelH = accuracies.length ? 210 : 300;
  const top1 = 64, top2 = top1 + panelH + 62;
  const height = (accuracies.length ? top2 + panelH : top1 + panelH) + 58;
  const numbers = epochs.map((r) => r.epoch);
  const stepXs = stepLosses.points.map(([e]) => e);
  // With steps the axis starts where training does, at 0.
  const first = stepXs.length ? 0 : numbers.length ? Math.min(...numbers) : 1;
  const last = Math.max(first, ...numbers, ...stepXs.map((e) => Math.ceil(e)));
  const x = epochScale(first, last, stepXs.length > 0);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" ` +
    `viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${LEFT + PLOT_W / 2}" y="30" text-anchor="middle" font-size="16" ` +
    `font-weight="bold">${escapeXml(title)}</text>`,
    ...(options.subtitle
      ? [
        `<text class="subtitle" x="${LEFT + PLOT_W / 2}" y="50" text-anchor="middle" ` +
        `fill="#444">${escapeXml(options.subtitle)}</text>`,
      ]
      : []),
  ];
  const panel = (
    top: number,
    yLabel: string,
    all: readonly Series[],
    percent: boolean,
  ) => {
    const bounds = percent ? { lo: 0, hi: 100 } : undefined;
    const values = all.flatMap((s) => s.points.map((p) => p[1]));
    let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
    // A margin, so that no point lies on an axis.
    const margin = 0.04 * (hi - lo || Math.abs(hi) * 0.1 || 1);
    // Losses and accuracies are never negative: the scale starts at 0 at the lowest.
    [lo, hi] = [lo >= 0 ? Math.max(0, lo - margin) : lo - margin, hi + margin];
    if (bounds) [lo, hi] = [Math.max(bounds.lo, lo), Math.min(bounds.hi, hi)];
    let y = niceScale(lo, hi, 5);
    if (bounds) {
      const ticks = y.ticks.filter((t) => t >= bounds.lo && t <= bounds.hi);
      y = { ...y, ticks, lo: ticks[0], hi: ticks[ticks.length - 1] };
    }
    const sx = (e: number) => LEFT + ((e - x.lo) / (x.hi - x.lo)) * PLOT_W;
    const sy = (v: number) => top + panelH - ((v - y.lo) / (y.hi - y.lo)) * panelH;
    const bottom = top + panelH;
    out.push(`<g class="panel" data-panel="${escapeXml(yLabel)}">`);
    for (const t of y.ticks) {
      out.push(
        `<line class="grid" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${px(sy(t))}" y2="${
          px(sy(t))
        }" stroke="#e3e3e3"/>`,
        `<text class="tick y" x="${LEFT - 8}" y="${px(sy(t) + 4)}" text-anchor="end">${
          t.toFixed(y.decimals)
        }</text>`,
      );
    }
    for (const t of x.ticks) {
      out.push(
        `<line class="tick-mark" x1="${px(sx(t))}" x2="${px(sx(t))}" y1="${bottom}" y2="${
          bottom + 5
        }" stroke="#333"/>`,
        `<text class="tick x" x="${px(sx(t))}" y="${bottom + 19}" text-anchor="middle">${t}</text>`,
      );
    }
    out.push(
      `<line class="axis x" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${bottom}" y2="${bottom}" ` +
        `stroke="#333"/>`,
      `<line class="axis y" x1="${LEFT}" x2="${LEFT}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
      `<text class="label y" transform="translate(${LEFT - 52} ${
        top + panelH / 2
      }) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(yLabel)}</text>`,
      `<text class="label x" x="${LEFT + PLOT_W / 2}" y="${bottom + 40}" text-anchor="middle" ` +
        `font-size="13">Epoch</text>`,
    );
    const radius = epochs.length > 40 ? 2 : 3.5;
    const format = (v: number) => percent ? `${v.toFixed(1)}%` : v.toPrecision(4);
    for (const s of all) {
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
      const stroke = s.faint ? `stroke-width="1" stroke-opacity="0.45"` : `stroke-width="2"`;
      out.push(
        `<polyline class="series${s.faint ? " steps" : ""}" data-series="${s.name}" fill="none" ` +
          `stroke="${s.color}" ${stroke}${dash} points="${
            s.points.map(([e, v]) => `${px(sx(e))},${px(sy(v))}`).join(" ")
          }"/>`,
      );
      if (s.faint) continue;
      for (const [e, v] of s.points) {
        out.push(
          `<circle class="point" data-series="${s.name}" cx="${px(sx(e))}" cy="${px(sy(v))}" ` +
            `r="${radius}" fill="${s.color}"><title>${s.name}, epoch ${e}: ${
              format(v)
            }</title></circle>`,
        );
      }
    }
    all.forEach((s, i) => {
      const ly = top + 12 + 22 * i, dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
      out.push(
        `<g class="legend" data-series="${s.name}">`,
        `<line x1="${LEGEND_X}" x2="${LEGEND_X + 28}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
          (s.faint ? `stroke-width="1" stroke-opacity="0.45"/>` : `stroke-width="2"${dash}/>`),
        ...(s.faint
          ? []
          : [`<circle cx="${LEGEND_X + 14}" cy="${ly}" r="3.5" fill="${s.color}"/>`]),
        `<text x="${LEGEND_X + 36}" y="${ly + 4}">${s.name} ${format(s.points.at(-1)![1])}</text>`,
        `</g>`,
      );
    });
    out.push(`</g>`);
  };
  panel(top1, "Loss", losses, false);
  if (accuracies.length) panel(top2, "Accuracy (%)", accuracies, true);
  out.push(`</svg>`, "");
  return out.join("\n");
}
