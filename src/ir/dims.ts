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

// ---- sums: dimensions as polynomials over symbols with integer coefficients ----

/** A polynomial: coefficient by monomial (sorted symbols joined by `*`; `""` for the constant). */
type Poly = Map<string, number>;

function polyOf(d: Dim): Poly | undefined {
  if (typeof d === "number") return new Map([["", d]]);
  const p: Poly = new Map();
  // Terms are separated by + or − at the top level: "4*N+1", "N-2", "-1*N".
  const terms = d.replace(/-/g, "+-").split("+").filter((t) => t !== "");
  for (const term of terms) {
    let c = 1;
    const syms: string[] = [];
    for (const f of term.split("*")) {
      if (/^-?\d+$/.test(f)) c *= Number(f);
      else if (f.startsWith("-") && /^-[A-Za-z_]/.test(f)) {
        c = -c;
        syms.push(f.slice(1));
      } else if (/^[A-Za-z_][\w.:]*$/.test(f)) syms.push(f);
      else return undefined;
    }
    const key = syms.sort().join("*");
    p.set(key, (p.get(key) ?? 0) + c);
  }
  return p;
}

function dimOf(p: Poly): Dim {
  const terms = [...p].filter(([, c]) => c !== 0).sort(([a], [b]) =>
    a === "" ? 1 : b === "" ? -1 : a < b ? -1 : a > b ? 1 : 0
  );
  if (terms.length === 0) return 0;
  if (terms.length === 1 && terms[0][0] === "") return terms[0][1];
  return terms.map(([k, c], i) => {
    const body = k === "" ? String(Math.abs(c)) : Math.abs(c) === 1 ? k : `${Math.abs(c)}*${k}`;
    return c < 0 ? `-${body}` : i === 0 ? body : `+${body}`;
  }).join("");
}

/**
 * Integer arithmetic on dimensions, symbolic where either is (as ONNX shape arithmetic computes
 * them: `N*4`, `N+1`); undefined where the result is not a polynomial with integer
 * coefficients (a division that is not exact).
 *
 * @param op Add, Sub, Mul or Div (floor division, exact on symbols).
 * @param a The left operand.
 * @param b The right operand.
 * @returns The result in canonical form (`4*N`, `N+1`, a number).
 */
export function dimArith(op: "Add" | "Sub" | "Mul" | "Div", a: Dim, b: Dim): Dim | undefined {
  if (typeof a === "number" && typeof b === "number") {
    if (op === "Div") return b === 0 ? undefined : Math.floor(a / b);
    return op === "Add" ? a + b : op === "Sub" ? a - b : a * b;
  }
  const p = polyOf(a), q = polyOf(b);
  if (!p || !q) return undefined;
  if (op === "Add" || op === "Sub") {
    const r: Poly = new Map(p);
    for (const [k, c] of q) r.set(k, (r.get(k) ?? 0) + (op === "Add" ? c : -c));
    return dimOf(r);
  }
  if (op === "Mul") {
    const r: Poly = new Map();
    for (const [k1, c1] of p) {
      for (const [k2, c2] of q) {
        const key = [...(k1 ? k1.split("*") : []), ...(k2 ? k2.split("*") : [])].sort().join("*");
        r.set(key, (r.get(key) ?? 0) + c1 * c2);
      }
    }
    return dimOf(r);
  }
  // Div: by a number dividing every coefficient, or by one monomial dividing every term.
  if (q.size !== 1) return undefined;
  const [[qk, qc]] = [...q];
  if (qc === 0) return undefined;
  const r: Poly = new Map();
  for (const [k, c] of p) {
    if (c % qc !== 0) return undefined;
    const syms = k ? k.split("*") : [];
    for (const s of qk ? qk.split("*") : []) {
      const i = syms.indexOf(s);
      if (i < 0) return undefined;
      syms.splice(i, 1);
    }
    const key = syms.join("*");
    r.set(key, (r.get(key) ?? 0) + c / qc);
  }
  return dimOf(r);
}
