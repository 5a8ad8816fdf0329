/** Arithmetic on possibly symbolic dimensions ("N", "N*784"). @module */
import type { Dim } from "./types.ts";

interface Factors {
  readonly n: number;
  readonly syms: readonly string[];
}

function factors(dims: readonly Dim[]): Factors {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === "number") n *= d;
    else {
      for (const t of d.split("*")) {
        if (/^\d+$/.test(t)) n *= Number(t);
        else syms.push(t);
      }
    }
  }
  return { n, syms: syms.sort() };
}

function toDim(f: Factors): Dim {
  if (f.syms.length === 0) return f.n;
  return [...(f.n === 1 ? [] : [String(f.n)]), ...f.syms].join("*");
}

/** The product of dimensions, symbolic where any is. */
export function dimProduct(dims: readonly Dim[]): Dim {
  return toDim(factors(dims));
}

/** `total / part` where exact, else undefined. */
export function dimQuotient(total: readonly Dim[], part: readonly Dim[]): Dim | undefined {
  const a = factors(total), b = factors(part);
  if (b.n === 0 || a.n % b.n !== 0) return undefined;
  const syms = [...a.syms];
  for (const s of b.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return undefined;
    syms.splice(i, 1);
  }
  return toDim({ n: a.n / b.n, syms });
}

/** Whether two dimensions are provably equal. */
export function dimsEqual(a: Dim, b: Dim): boolean {
  return a === b || dimProduct([a]) === dimProduct([b]);
}
