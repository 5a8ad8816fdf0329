// The code in README.md and docs/*.md is tested: every TypeScript block type-checks and the blocks
// marked `ts run` (those that train nothing) run, in ONE `deno test --doc` subprocess; the shell
// blocks name scripts, tasks, permission sets and flags that exist; docs/cli.md names only flags
// that exist and its flag table lists exactly the CLI's flags; sample outputs match the code's;
// and the links between the pages resolve. (tests/doc_examples_test.ts runs the JSDoc examples.)
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { fmnistCnn } from "../pipelines/fmnist_cnn.ts";
import { assert } from "./_assert.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string): string => Deno.readTextFileSync(ROOT + path);
const exists = (path: string): boolean => {
  try {
    Deno.statSync(ROOT + path);
    return true;
  } catch {
    return false;
  }
};

/** The pages: README.md and every docs/*.md, as paths relative to the repository root. */
const PAGES: readonly string[] = [
  "README.md",
  ...[...Deno.readDirSync(ROOT + "docs")]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`)
    .sort(),
];

/** The pages every page of the brief must be among (a renamed page fails here, not silently). */
const EXPECTED_DOCS = [
  "architecture",
  "benchmarks",
  "browser",
  "checkpoints",
  "cli",
  "datasets",
  "dsl",
  "finetune",
  "metrics",
  "troubleshooting",
  "using-from-your-project",
].map((name) => `docs/${name}.md`);

/** A fenced code block: its language, attributes, first and closing fence lines (1-based). */
interface Block {
  readonly page: string;
  readonly lang: string;
  readonly attrs: readonly string[];
  readonly start: number;
  readonly end: number;
  readonly lines: readonly string[];
}

/** The fenced code blocks of a page, and its lines outside them. */
function parse(page: string): { blocks: Block[]; prose: { line: number; text: string }[] } {
  const lines = read(page).split("\n");
  const blocks: Block[] = [];
  const prose: { line: number; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^(\s*)(`{3,}|~{3,})(.*)$/);
    if (!open) {
      prose.push({ line: i + 1, text: lines[i] });
      continue;
    }
    assert.equal(open[1], "", `${page}:${i + 1}: a fence is indented; keep fences at column 0`);
    const [lang = "", ...attrs] = open[3].trim().split(/\s+/).filter((w) => w);
    const close = lines.findIndex((l, j) => j > i && l.trimEnd() === open[2]);
    assert.ok(close > i, `${page}:${i + 1}: the code block is not closed`);
    blocks.push({
      page,
      lang,
      attrs,
      start: i + 1,
      end: close + 1,
      lines: lines.slice(i + 1, close),
    });
    i = close;
  }
  return { blocks, prose };
}

const PARSED = new Map(PAGES.map((page) => [page, parse(page)]));
const BLOCKS: Block[] = [...PARSED.values()].flatMap((p) => p.blocks);
const tsBlocks = BLOCKS.filter((b) => b.lang === "ts");
const runBlocks = tsBlocks.filter((b) => b.attrs.includes("run"));
const where = (b: Block) => `${b.page}:${b.start}`;

/** Runs `deno ARGS` in the repository root; stdout and stderr without colours. */
async function deno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => stripVTControlCharacters(new TextDecoder().decode(b));
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

Deno.test("docs: README.md and docs/ hold the pages, and every code block says its language", () => {
  for (const page of EXPECTED_DOCS) assert.ok(PAGES.includes(page), `${page} is missing`);
  const languages = new Set(["ts", "sh", "python", "text", "json"]);
  for (const b of BLOCKS) {
    assert.ok(
      languages.has(b.lang),
      `${where(b)}: language '${b.lang}' (use one of ${[...languages]})`,
    );
    if (b.lang === "ts") {
      // `ignore` would skip the type check; `run` is this test's mark for blocks that also run.
      assert.deepEqual(b.attrs.filter((a) => a !== "run"), [], `${where(b)}: attributes`);
    } else {
      assert.deepEqual(b.attrs, [], `${where(b)}: attributes`);
    }
  }
  assert.ok(tsBlocks.length >= 20, `only ${tsBlocks.length} TypeScript blocks`);
  assert.ok(runBlocks.length >= 8, `only ${runBlocks.length} blocks run`);
});

Deno.test("docs: every TypeScript block type-checks and the `ts run` blocks run", async () => {
  // `deno test --doc` on markdown type-checks every `ts` block (each a module of its own) and
  // wraps each in a test; the filter runs only the `run` blocks, named PAGE#START-END.ts.
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const names = runBlocks.map((b) => `${escape(b.page)}#${b.start}-\\d+\\.ts`);
  const filter = `/(?:${names.join("|")})$/`;
  const { code, stdout, stderr } = await deno([
    "test",
    "-q",
    "-P",
    "--doc",
    "--filter",
    filter,
    ...PAGES,
  ]);
  const out = stdout + stderr;
  assert.equal(code, 0, out.slice(-4000));
  const ran = [...out.matchAll(/^running 1 test from \.\/(\S+)#(\d+)-\d+\.ts$/gm)]
    .map((m) => `${m[1]}:${m[2]}`);
  assert.deepEqual(ran.sort(), runBlocks.map(where).sort());
  const summary = out.match(/ok \| (\d+) passed \| 0 failed \| (\d+) filtered out/);
  assert.ok(summary, `no summary:\n${out.slice(-2000)}`);
  assert.equal(Number(summary[1]), runBlocks.length);
  assert.equal(Number(summary[2]), tsBlocks.length - runBlocks.length);
});

/** A command of a shell block: its words, without comments, continuations joined. */
function commands(b: Block): string[][] {
  const out: string[][] = [];
  let heredoc: string | undefined;
  let pending = "";
  for (const raw of b.lines) {
    if (heredoc !== undefined) {
      if (raw.trim() === heredoc) heredoc = undefined;
      continue;
    }
    const line = pending + raw.replace(/(^|\s)#.*$/, "");
    heredoc = line.match(/<<-?'?(\w+)'?/)?.[1];
    if (line.trimEnd().endsWith("\\")) {
      pending = line.trimEnd().slice(0, -1) + " ";
      continue;
    }
    pending = "";
    const words = line.trim().split(/\s+/).filter((w) => w);
    if (words.length) out.push(words);
  }
  return out;
}

/** A deno invocation in a shell block: subcommand, Deno's flags, script and script arguments. */
interface DenoCall {
  readonly block: Block;
  readonly sub: string;
  readonly denoFlags: string[];
  readonly script?: string;
  readonly args: string[];
}

const TASKS: Record<string, string> = JSON.parse(read("deno.json")).tasks;
const PERMISSION_SETS = Object.keys(JSON.parse(read("deno.json")).permissions);

function denoCalls(b: Block, words: string[]): DenoCall[] {
  const at = words.findIndex((w) => w === "deno" || w.startsWith("deno@"));
  if (at < 0) return [];
  const sub = words[at + 1];
  const rest = words.slice(at + 2);
  if (sub === "task") {
    const task = TASKS[rest[0]];
    assert.ok(task !== undefined, `${where(b)}: no task '${rest[0]}' in deno.json`);
    // The task's own command, then the arguments given to the task.
    const taskWords = task.split(/\s+/);
    assert.equal(taskWords[0], "deno", `${where(b)}: task ${rest[0]}`);
    return denoCalls(b, [...taskWords, ...rest.slice(1)]);
  }
  if (sub !== "run") {
    // `deno test -P`, `deno add jsr:…`: the flags only.
    return [{ block: b, sub, denoFlags: rest.filter((w) => w.startsWith("-")), args: [] }];
  }
  const script = rest.findIndex((w) => !w.startsWith("-"));
  assert.ok(script >= 0, `${where(b)}: deno run without a script`);
  return [{
    block: b,
    sub,
    denoFlags: rest.slice(0, script),
    script: rest[script],
    args: rest.slice(script + 1),
  }];
}

const SHELL = BLOCKS.filter((b) => b.lang === "sh");
const CALLS: DenoCall[] = SHELL.flatMap((b) => commands(b).flatMap((w) => denoCalls(b, w)));
const flagName = (w: string) => w.replace(/=.*$/, "");
const longFlags = (words: readonly string[]) =>
  words.filter((w) => /^--[a-z]/.test(w)).map(flagName);

/** `--help` of a runCli script, given its leading arguments (the model and text files). */
const helps = new Map<string, Promise<string>>();
function helpOf(script: string, positional: readonly string[]): Promise<string> {
  const key = [script, ...positional].join(" ");
  if (!helps.has(key)) {
    helps.set(
      key,
      deno(["run", "-q", "-P", script, ...positional, "--help"]).then(
        ({ code, stdout, stderr }) => {
          assert.equal(code, 0, `${key} --help: ${stderr}`);
          return stdout;
        },
      ),
    );
  }
  return helps.get(key)!;
}
const mentions = (help: string, flag: string) =>
  new RegExp(`(^|[\\s,\\[(])${flag}(?![\\w-])`, "m").test(help);

/** Checks Deno's own flags by parsing them with `deno SUB FLAGS --help` (one call per SUB). */
async function checkDenoFlags(sub: string, flags: Set<string>, context: string): Promise<void> {
  if (flags.size === 0) return;
  const { code, stderr } = await deno([sub, ...flags, "--help"]);
  assert.equal(code, 0, `deno ${sub} rejects a flag of ${context}: ${[...flags]}: ${stderr}`);
}

Deno.test("docs: shell blocks name scripts, tasks, permission sets and flags that exist", async () => {
  assert.ok(CALLS.length >= 20, `only ${CALLS.length} deno commands found`);
  const checks: Promise<void>[] = [];
  const denoFlags = new Map<string, Set<string>>();
  for (const call of CALLS) {
    const at = `${where(call.block)} (deno ${call.sub} ${call.script ?? ""})`;
    for (const f of call.denoFlags) {
      if (f === "-P" || f === "-q" || f === "-y") continue;
      const set = f.match(/^-P=(\w+)$/)?.[1];
      if (set !== undefined) {
        assert.ok(PERMISSION_SETS.includes(set), `${at}: no permission set '${set}' in deno.json`);
        continue;
      }
      assert.match(f, /^--[a-z]/, `${at}: flag ${f}`);
      denoFlags.set(call.sub, (denoFlags.get(call.sub) ?? new Set()).add(f));
    }
    if (call.sub !== "run") continue;
    const script = call.script!;
    const flags = longFlags(call.args);
    if (!script.includes("/")) {
      // A script of your own (my_model.ts, train.ts: a page's example saved under that name,
      // ending in runCli): the CLI's flags.
      checks.push(
        helpOf("pipelines/fmnist.ts", []).then((help) => {
          for (const f of flags) assert.ok(mentions(help, f), `${at}: ${f} is not a CLI flag`);
        }),
      );
      continue;
    }
    assert.ok(exists(script), `${at}: ${script} does not exist`);
    const source = read(script);
    if (source.includes("runCli(")) {
      const positional = call.args.slice(0, call.args.findIndex((w) => w.startsWith("-")));
      checks.push(
        helpOf(script, positional).then((help) => {
          for (const f of flags) assert.ok(mentions(help, f), `${at}: ${f} is not in its --help`);
        }),
      );
    } else {
      // A bench script or the browser server (node:util parseArgs): the flag is named in it.
      for (const f of flags) {
        const name = f.slice(2);
        assert.ok(
          source.includes(f) || source.includes(`"${name}"`) || source.includes(`${name}:`),
          `${at}: ${f} is not a flag of ${script}`,
        );
      }
    }
  }
  // Files named in any command (python scripts, data generators) exist.
  for (const b of SHELL) {
    for (const w of commands(b).flat()) {
      if (/^(bench|pipelines|src|tests)\/[\w./-]+\.(ts|py)$/.test(w)) {
        assert.ok(exists(w), `${where(b)}: ${w} does not exist`);
      }
    }
  }
  for (const [sub, flags] of denoFlags) checks.push(checkDenoFlags(sub, flags, "the docs"));
  await Promise.all(checks);
});

Deno.test("docs: the README's two setup commands are the main job and .ci/run's test command", () => {
  const ci = read(".ci/run").split("\n");
  const ciTest = ci[ci.findIndex((l) => l.includes("The README's test command")) + 1];
  const testCommand = ciTest.split(/\s+2>&1/)[0].trim();
  assert.equal(testCommand, "npx -y deno@2.9.6 test -P");
  const quickStart = PARSED.get("README.md")!.blocks.find((b) => b.lang === "sh")!;
  const lines = commands(quickStart).map((w) => w.join(" "));
  assert.deepEqual(lines, ["npx -y deno@2.9.6 run -q -P pipelines/fmnist.ts", testCommand]);
});

Deno.test("docs: every flag named in docs/cli.md exists, and its table lists the CLI's flags", async () => {
  const [fmnist, csv, lm] = await Promise.all([
    helpOf("pipelines/fmnist.ts", []),
    helpOf("pipelines/regression_csv.ts", []),
    helpOf("pipelines/lm_finetune.ts", ["model.onnx", "text.txt"]),
  ]);
  const cliFlags = [...fmnist.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((m) => m[1]);
  assert.ok(cliFlags.includes("--export-raw") && cliFlags.includes("--help"), fmnist);
  const ownFlags = [...(csv + lm).matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]);
  const page = read("docs/cli.md");
  // The flag table: one row per flag of the CLI, in --help's order.
  const rows = [...page.matchAll(/^\| `(--[a-z-]+)`/gm)].map((m) => m[1]);
  const helpRow = page.match(/^\| `-h`, `(--help)`/m)?.[1];
  assert.deepEqual([...rows, helpRow], cliFlags);
  // Every flag named anywhere on the page: the CLI's, a script's own, a deliberate misspelling in
  // the unknown-flag example, or Deno's own (checked by `deno run FLAGS --help`).
  const named = new Set([...page.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
  const misspelled = new Set(["--epoch"]);
  const denoOwn = [...named].filter((f) =>
    !cliFlags.includes(f) && !ownFlags.includes(f) && !misspelled.has(f)
  );
  assert.deepEqual(denoOwn.sort(), [
    "--allow-ffi",
    "--allow-net",
    "--allow-read",
    "--allow-write",
  ]);
  await checkDenoFlags("run", new Set(denoOwn), "docs/cli.md");
  // The unknown-flag example fails as the page says.
  const { code, stderr } = await deno(["run", "-q", "-P", "pipelines/fmnist.ts", "--epoch", "3"]);
  assert.equal(code, 2);
  assert.equal(stderr.split("\n")[0], "error: Unknown flag --epoch (did you mean --epochs?)");
  assert.ok(read("docs/troubleshooting.md").includes(stderr.split("\n")[0]));
});

Deno.test("docs: sample outputs are the code's", async () => {
  // docs/cli.md's bad-flag example is what `--epochs 0` prints, with exit status 2.
  const cli = PARSED.get("docs/cli.md")!.blocks.find((b) => b.lines[0]?.startsWith("error: "))!;
  const run = await deno(["run", "-q", "-P", "pipelines/fmnist.ts", "--epochs", "0"]);
  assert.equal(run.code, 2);
  assert.equal(run.stderr.trimEnd(), cli.lines.join("\n"));
  // docs/dsl.md's summary is pipelines/fmnist_cnn.ts's, with "..." for the lines left out.
  const dsl = PARSED.get("docs/dsl.md")!.blocks.find((b) =>
    b.lines[0]?.startsWith("Layer (path)")
  )!;
  const actual = fmnistCnn.compile().summary().split("\n");
  const gap = dsl.lines.indexOf("...");
  const tail = dsl.lines.length - gap - 1;
  assert.deepEqual(
    [...actual.slice(0, gap), "...", ...actual.slice(actual.length - tail)],
    dsl.lines,
  );
  // docs/datasets.md's "Pipeline flags" excerpt is regression_csv.ts's --help.
  const own = PARSED.get("docs/datasets.md")!.blocks.find((b) => b.lines[0]?.startsWith("--csv"))!;
  const help = (await helpOf("pipelines/regression_csv.ts", [])).split("\n").map((l) => l.trim());
  for (const line of own.lines) assert.ok(help.includes(line), `'${line}' is not in --help`);
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string) =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");

Deno.test("docs: links between the pages resolve to files and headings", () => {
  const anchors = new Map(
    PAGES.map((page) => [
      page,
      new Set(
        PARSED.get(page)!.prose.filter((l) => /^#{1,6} /.test(l.text))
          .map((l) => slug(l.text.replace(/^#+ /, ""))),
      ),
    ]),
  );
  let links = 0;
  for (const page of PAGES) {
    const dir = page.includes("/") ? page.slice(0, page.lastIndexOf("/") + 1) : "";
    for (const { line, text } of PARSED.get(page)!.prose) {
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        links++;
        const [path, anchor] = target.split("#");
        const file = path === "" ? page : new URL(path, `file:///${dir}`).pathname.slice(1);
        assert.ok(exists(file), `${page}:${line}: ${target}: no file ${file}`);
        if (anchor !== undefined) {
          assert.ok(anchors.get(file)?.has(anchor), `${page}:${line}: ${target}: no such heading`);
        }
      }
    }
  }
  assert.ok(links >= 40, `only ${links} links checked`);
});
