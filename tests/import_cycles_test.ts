// No circle of imports among the files under src/: a registry (an op table, the layer union, the
// optimizer dispatch, a loader) imports its entries, and what they share lives in a leaf module
// below both. The module graph is mod.ts's as `deno info --json` reports it (one subprocess, no
// type checking), counting every import: static and dynamic, values and types.
import { fileURLToPath } from "node:url";
import { assert } from "./_assert.ts";

/** A module's imports: file → the files it imports. */
type ModuleGraph = ReadonlyMap<string, readonly string[]>;

/**
 * The strongly connected components of `graph` that hold a cycle (two or more files, or one that
 * imports itself), each sorted, in the order of their first file.
 */
function importCycles(graph: ModuleGraph): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** One circle through a component: its first file, the files it imports in turn, and back. */
function circleThrough(graph: ModuleGraph, component: readonly string[]): string[] {
  const start = component[0], inside = new Set(component);
  const from = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const w of graph.get(queue[i]) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let v = queue[i]; v !== start; v = from.get(v)!) path.splice(1, 0, v);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, queue[i]);
        queue.push(w);
      }
    }
  }
  return [...component];
}

/** The message naming each cycle's files and one circle through them. */
function describeCycles(graph: ModuleGraph, cycles: readonly string[][]): string {
  return [
    `${cycles.length} group(s) of files under src/ import each other in a circle ` +
    "(move what they share to a leaf module that both import):",
    ...cycles.map((c) => `- ${c.join(", ")} (${circleThrough(graph, c).join(" → ")})`),
  ].join("\n");
}

interface DenoInfo {
  readonly modules: readonly {
    readonly specifier: string;
    readonly dependencies?: readonly {
      readonly code?: { readonly specifier?: string };
      readonly type?: { readonly specifier?: string };
    }[];
  }[];
}

/** mod.ts's module graph restricted to src/, as paths relative to the repository root. */
async function srcModuleGraph(): Promise<Map<string, string[]>> {
  const root = new URL("..", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "mod.ts"],
    cwd: fileURLToPath(root),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const info: DenoInfo = JSON.parse(new TextDecoder().decode(stdout));
  const src = new URL("src/", root).href;
  const local = (specifier: string | undefined) =>
    specifier?.startsWith(src) ? specifier.slice(root.href.length) : undefined;
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    const file = local(m.specifier);
    if (!file) continue;
    const deps = (m.dependencies ?? []).flatMap((d) =>
      [local(d.code?.specifier), local(d.type?.specifier)].filter((s): s is string =>
        s !== undefined
      )
    );
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

Deno.test("importCycles finds each circle of imports and names one path through it", () => {
  const graph: ModuleGraph = new Map([
    ["src/a.ts", ["src/b.ts", "src/leaf.ts"]],
    ["src/b.ts", ["src/c.ts"]],
    ["src/c.ts", ["src/a.ts", "src/leaf.ts"]],
    ["src/self.ts", ["src/self.ts"]],
    ["src/leaf.ts", []],
    ["src/top.ts", ["src/a.ts", "src/self.ts"]],
  ]);
  const cycles = importCycles(graph);
  assert.deepEqual(cycles, [["src/a.ts", "src/b.ts", "src/c.ts"], ["src/self.ts"]]);
  assert.equal(
    describeCycles(graph, cycles),
    "2 group(s) of files under src/ import each other in a circle (move what they share to a " +
      "leaf module that both import):\n" +
      "- src/a.ts, src/b.ts, src/c.ts (src/a.ts → src/b.ts → src/c.ts → src/a.ts)\n" +
      "- src/self.ts (src/self.ts → src/self.ts)",
  );
  assert.deepEqual(importCycles(new Map([["src/a.ts", ["src/b.ts"]], ["src/b.ts", []]])), []);
});

Deno.test("no files under src/ import each other in a circle", async () => {
  const graph = await srcModuleGraph();
  // The graph was read: mod.ts reaches the compiler, and the compiler imports its lowerings.
  assert.ok(graph.size > 60, `only ${graph.size} modules under src/ in mod.ts's graph`);
  assert.ok(
    graph.get("src/compile/compile.ts")?.includes("src/compile/lower_model.ts"),
    "src/compile/compile.ts does not import src/compile/lower_model.ts in the graph read",
  );
  const cycles = importCycles(graph);
  assert.ok(cycles.length === 0, describeCycles(graph, cycles));
});
