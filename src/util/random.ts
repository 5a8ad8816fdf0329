/**
 * Seedable pseudo-random numbers: PCG32 (O'Neill's XSH-RR variant) on 64-bit BigInt-free state.
 *
 * One generator drives parameter initialisation and data shuffling, so a seed reproduces a run
 * bit for bit.
 * @module
 */
import { UserRangeError } from "./user_error.ts";

/** A seeded generator of uniform random numbers. */
export interface Rng {
  /** Returns the next uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** Returns the next uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number;
}

const MULT_HI = 0x5851f42d;
const MULT_LO = 0x4c957f2d;
const INC_HI = 0x14057b7e;
const INC_LO = 0xf767814f;

/** Multiplies two 64-bit numbers given as 32-bit halves, keeping the low 64 bits. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): [number, number] {
  const a0 = aLo & 0xffff, a1 = aLo >>> 16, b0 = bLo & 0xffff, b1 = bLo >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = ((mid & 0xffff) << 16 | (p00 & 0xffff)) >>> 0;
  const carry = (mid >>> 16) + (p01 >>> 16) + (p10 >>> 16) + p11;
  const hi = (carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
  return [hi, lo];
}

function add64(aHi: number, aLo: number, bHi: number, bLo: number): [number, number] {
  const lo = (aLo + bLo) >>> 0;
  const hi = (aHi + bHi + (lo < aLo ? 1 : 0)) >>> 0;
  return [hi, lo];
}

/**
 * Creates a PCG32 generator from an integer seed.
 *
 * @param seed Any safe integer; equal seeds give equal streams.
 * @returns A generator.
 * @example
 * ```ts
 * import { createRng } from "./random.ts";
 * const a = createRng(7), b = createRng(7);
 * if (a.nextUint32() !== b.nextUint32()) throw new Error("not reproducible");
 * ```
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new UserRangeError(
      `Cannot create a random generator: seed must be a safe integer, got ${seed}`,
    );
  }
  let hi = 0, lo = 0;
  const step = () => {
    [hi, lo] = mul64(hi, lo, MULT_HI, MULT_LO);
    [hi, lo] = add64(hi, lo, INC_HI, INC_LO);
  };
  const seedHi = Math.floor(Math.abs(seed) / 2 ** 32) >>> 0;
  const seedLo = (Math.abs(seed) % 2 ** 32) >>> 0;
  step();
  [hi, lo] = add64(hi, lo, seed < 0 ? ~seedHi >>> 0 : seedHi, seedLo);
  step();
  const nextUint32 = (): number => {
    const oldHi = hi, oldLo = lo;
    step();
    // xorshifted = ((old >> 18) ^ old) >> 27, truncated to 32 bits
    const sHi = oldHi >>> 18;
    const sLo = ((oldLo >>> 18) | (oldHi << 14)) >>> 0;
    const xHi = (sHi ^ oldHi) >>> 0, xLo = (sLo ^ oldLo) >>> 0;
    const xorshifted = ((xLo >>> 27) | (xHi << 5)) >>> 0;
    const rot = oldHi >>> 27;
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  };
  return Object.freeze({
    nextUint32,
    nextFloat: () => nextUint32() / 2 ** 32,
  });
}

/**
 * Shuffles an array in place with the Fisher–Yates algorithm.
 *
 * @param items The array to permute.
 * @param rng The generator that picks the permutation.
 * @returns The same array, permuted.
 */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(
  items: T,
  rng: Rng,
): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

function mix32(h: number, v: number): number {
  h = (h ^ v) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Derives an independent seed from a seed and a list of non-negative integers (a step number, a
 * tensor index), so a stream can be recreated from its coordinates without replaying others.
 *
 * @param seed The run's seed (any safe integer).
 * @param parts Coordinates of the stream.
 * @returns A safe-integer seed for {@linkcode createRng}.
 * @example
 * ```ts
 * import { deriveSeed } from "./random.ts";
 * if (deriveSeed(1, 5, 0) !== deriveSeed(1, 5, 0) || deriveSeed(1, 5, 0) === deriveSeed(1, 6, 0)) {
 *   throw new Error();
 * }
 * ```
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let hi = mix32(0x243f6a88, (Math.abs(seed) % 2 ** 32) >>> 0);
  hi = mix32(hi, (Math.floor(Math.abs(seed) / 2 ** 32) + (seed < 0 ? 0x80000 : 0)) >>> 0);
  let lo = 0x85a308d3;
  for (const p of parts) {
    hi = mix32(hi, (p % 2 ** 32) >>> 0);
    lo = mix32(lo ^ hi, Math.floor(p / 2 ** 32) >>> 0);
  }
  return (hi & 0x1fffff) * 2 ** 32 + lo;
}

/**
 * Fills `out` with uniform 32-bit draws, element i a hash of (`seed`, i): a counter-based
 * generator (the MurmurHash3 finalizer over a Weyl sequence), so any element can be recomputed
 * alone and filling is fast.
 *
 * @param seed A safe-integer seed (such as one from {@linkcode deriveSeed}).
 * @param out The array to fill.
 * @returns `out`.
 * @example
 * ```ts
 * import { hashedUint32s } from "./random.ts";
 * const a = hashedUint32s(9, new Uint32Array(4)), b = hashedUint32s(9, new Uint32Array(4));
 * if (a.join() !== b.join() || new Set(a).size !== 4) throw new Error();
 * ```
 */
export function hashedUint32s(seed: number, out: Uint32Array): Uint32Array {
  const lo = (Math.abs(seed) % 2 ** 32) >>> 0;
  const hi = mix32(0x9e3779b9, (Math.floor(Math.abs(seed) / 2 ** 32) + (seed < 0 ? 1 : 0)) >>> 0);
  for (let i = 0; i < out.length; i++) {
    let h = (lo + Math.imul(i, 0x9e3779b9)) ^ hi;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f) ^ lo;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    out[i] = h ^ (h >>> 16);
  }
  return out;
}
