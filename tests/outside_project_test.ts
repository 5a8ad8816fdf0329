// onnxtrain as a user gets it from JSR, in a project of its own (docs/using-from-your-project.md).
//
// A temporary folder outside this repository becomes the user's project: the docs page's
// `deno add` writes its `deno.json`, then the page's `deno.json`, `train.ts` and `fmnist.ts` are
// written verbatim, and every `deno run` line of the page runs there as written (plus the flags
// form without `--allow-ffi`, which must stop with Deno's permission error).
//
// The package comes as `jsr:` brings it: the files `deno publish` would upload, with their bare
// imports rewritten through this repository's import map as `deno publish` rewrites them, served
// with JSR's metadata files by a stand-in for jsr.io on 127.0.0.1
// (tests/fixtures/outside_project/registry_server.ts) that Deno's `JSR_URL` points at. The npm
// packages come from Deno's npm cache, already filled for this repository: the project's
// `deno.lock` pins the versions this repository's lock pins, as `deno add` would resolve them
// online, and HTTP(S)_PROXY points at a closed port, so a download fails loudly instead of
// reaching the network. ≈ 4 s on 2 cores.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { assert } from "./_assert.ts";
import { FASHION_MNIST } from "../src/data/fashion_mnist.ts";
import { writeIdxFiles } from "../src/data/idx_download.ts";
import { syntheticFashionMnist } from "../src/data/synthetic.ts";
import { decodeOnnx } from "../src/onnx/import.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOC = "docs/using-from-your-project.md";
const SERVER = fileURLToPath(
  new URL("./fixtures/outside_project/registry_server.ts", import.meta.url),
);
const decoder = new TextDecoder();

interface Output {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function deno(
  args: readonly string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<Output> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...args],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stdout: decoder.decode(r.stdout), stderr: decoder.decode(r.stderr) };
}

/** The code block (its fence's info string `lang`) that follows the line `lead`. */
function docBlock(md: string, lead: string, lang: string): string {
  const at = md.indexOf(`\n${lead}\n`);
  assert.ok(at >= 0, `${DOC} has no line "${lead}"`);
  const fence = md.indexOf(`\n\`\`\`${lang}\n`, at);
  assert.ok(fence >= 0, `${DOC} has no \`\`\`${lang} block after "${lead}"`);
  const start = fence + lang.length + 5;
  return md.slice(start, md.indexOf("\n```", start) + 1);
}

/** The docs' `deno run` command lines (lines of their own) that run `script`, as arguments. */
function docCommands(md: string, script: string, count: number): string[][] {
  const lines = md.split("\n").filter((l) => l.startsWith("deno run ") && l.includes(script));
  assert.equal(lines.length, count, `${DOC}: the commands running${script}: ${lines.join(" | ")}`);
  return lines.map((line) => line.split(/\s+/).slice(1)); // no quoting in them
}

/** The files `deno publish` would upload, relative to the repository root. */
async function publishedFiles(): Promise<string[]> {
  // Type-checking and the slow-types check do not change the file list; they take ≈ 3 s.
  const r = await deno(
    ["publish", "--dry-run", "--allow-dirty", "--allow-slow-types", "--no-check"],
    ROOT,
  );
  const text = r.stdout + r.stderr;
  assert.equal(r.code, 0, text);
  const files = [...text.matchAll(/^\s+(file:\/\/\S.*?) \([\d.]+[KMG]?B\)$/gm)]
    .map((m) => fileURLToPath(m[1]).slice(ROOT.length));
  assert.ok(files.includes("mod.ts") && files.includes("deno.json"), text);
  assert.ok(!files.some((f) => /^(tests|bench|\.ci|node_modules|data)\//.test(f)), text);
  return files;
}

/** Import specifiers in code (comment lines, such as JSDoc examples, are left as they are). */
const SPECIFIER =
  /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bimport\.meta\.resolve\(\s*)(["'])([^"'\n]+)\2/g;

/** Rewrites bare specifiers through `imports`, as `deno publish` does ("unfurling"). */
function unfurl(source: string, imports: Readonly<Record<string, string>>, file: string): string {
  return source.split("\n").map((line) => {
    if (/^\s*(\*|\/\/|\/\*)/.test(line)) return line;
    return line.replace(SPECIFIER, (all, lead: string, quote: string, spec: string) => {
      const key = Object.keys(imports).find((k) => spec === k || spec.startsWith(`${k}/`));
      const target = key === undefined ? spec : imports[key] + spec.slice(key.length);
      assert.match(
        target,
        /^(\.\.?\/|npm:|jsr:|node:|https?:)/,
        `${file}: "${spec}" is not in deno.json's imports`,
      );
      return key === undefined ? all : `${lead}${quote}${target}${quote}`;
    });
  }).join("\n");
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Lays out a JSR registry in `dir` holding this repository's package as `deno publish` would
 * upload it: `@scope/name/meta.json`, `@scope/name/VERSION_meta.json` (the exports and every
 * file's size and checksum) and the files under `@scope/name/VERSION/`.
 */
async function buildRegistry(dir: string) {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const { name, version, exports, imports } = config;
  const [scope, pkg] = name.slice(1).split("/");
  const base = `${dir}/@${scope}/${pkg}`;
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const file of await publishedFiles()) {
    let bytes: Uint8Array<ArrayBuffer> = await Deno.readFile(ROOT + file);
    if (/\.(ts|tsx|js|mjs)$/.test(file)) {
      bytes = new TextEncoder().encode(unfurl(decoder.decode(bytes), imports, file));
    }
    const path = `${base}/${version}/${file}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, bytes);
    manifest[`/${file}`] = { size: bytes.length, checksum: `sha256-${await sha256(bytes)}` };
  }
  const meta = new TextEncoder().encode(JSON.stringify({ manifest, exports }));
  await Deno.writeFile(`${base}/${version}_meta.json`, meta);
  await Deno.writeTextFile(
    `${base}/meta.json`,
    JSON.stringify({ scope, name: pkg, latest: version, versions: { [version]: {} } }),
  );
  return { name: name as string, version: version as string, integrity: await sha256(meta) };
}

/**
 * The project's `deno.lock` as `deno add` writes it: the package at `version`, and its npm
 * dependencies at the versions this repository's lock pins (so no npm metadata is fetched).
 */
async function projectLock(
  pkg: { name: string; version: string; integrity: string },
  specifier: string,
): Promise<string> {
  const repo = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const npmDeps: string[] = repo.workspace.dependencies;
  return JSON.stringify(
    {
      version: repo.version,
      specifiers: { [specifier]: pkg.version, ...repo.specifiers },
      jsr: {
        [`${pkg.name}@${pkg.version}`]: { integrity: pkg.integrity, dependencies: npmDeps },
      },
      npm: repo.npm,
      workspace: { dependencies: [specifier] },
    },
    null,
    2,
  );
}

/** Starts the registry stand-in on a free port; stops when its stdin closes. */
async function startRegistry(dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      SERVER,
      dir,
    ],
    cwd: dir,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  const stop = async () => {
    await child.stdin.close();
    await child.status;
  };
  const port = Number(text.trim());
  if (!(Number.isInteger(port) && port > 0)) {
    await stop();
    assert.fail(`the registry stand-in printed "${text}", not its port`);
  }
  return { url: `http://127.0.0.1:${port}/`, stop };
}

/**
 * A fresh folder on the filesystem of Deno's npm cache, where Deno hard-links `node_modules` from
 * the cache as it does on a user's disk; across filesystems it copies them (459 MB, ≈ 6 s).
 */
async function tempDirBeside(npmCache: string): Promise<string> {
  const prefix = "onnxtrain_outside_";
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  if ((await Deno.stat(tmp)).dev === (await Deno.stat(npmCache)).dev) return tmp;
  try {
    const beside = await Deno.makeTempDir({ dir: dirname(npmCache), prefix });
    await Deno.remove(tmp);
    return await Deno.realPath(beside);
  } catch {
    return tmp; // a read-only Deno cache: copy, then
  }
}

/** The test reports' average losses, per epoch, from a run's log. */
const testLosses = (log: string) =>
  [...log.matchAll(/^ Accuracy: [\d.]+%, Avg loss: ([\d.]+) $/gm)].map((m) => Number(m[1]));

/** The exported inference model's input, outputs and parameter shapes. */
async function exported(path: string) {
  const bytes = await Deno.readFile(path);
  const g = decodeOnnx(bytes);
  return {
    input: g.inputs.map((i) => `${i.name} ${i.type.dtype} [${i.type.shape.join(", ")}]`),
    outputs: g.outputs,
    params: [...g.initializers.values()].map((t) => t.shape.join("x")),
  };
}

Deno.test("a project of its own imports onnxtrain from JSR and trains with the documented permissions", async (t) => {
  const md = await Deno.readTextFile(`${ROOT}${DOC}`);
  const denoJson = docBlock(md, "## `deno.json`", "json");
  const specifier: string = JSON.parse(denoJson).imports["@onnxtrain/onnxtrain"];
  const { npmCache } = JSON.parse((await deno(["info", "--json"], ROOT)).stdout);
  const tmp = await tempDirBeside(npmCache);
  const project = `${tmp}/my-project`;
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  try {
    const pkg = await buildRegistry(`${tmp}/registry`);
    assert.equal(specifier, `jsr:${pkg.name}@^${pkg.version}`, `${DOC}'s deno.json import`);
    await Deno.mkdir(project);
    // deno.lock first: it stands in for the npm resolution `deno add` would do online.
    await Deno.writeTextFile(`${project}/deno.lock`, await projectLock(pkg, specifier));
    await Deno.writeTextFile(`${project}/train.ts`, docBlock(md, "Save this as `train.ts`:", "ts"));
    await Deno.writeTextFile(
      `${project}/fmnist.ts`,
      docBlock(md, "Save this as `fmnist.ts`:", "ts"),
    );

    // A Deno cache of its own, for the package's modules; npm packages from the filled one.
    await Deno.mkdir(`${tmp}/deno_dir`);
    await Deno.symlink(npmCache, `${tmp}/deno_dir/npm`);
    registry = await startRegistry(`${tmp}/registry`);
    const closed = "http://127.0.0.1:9";
    const env = {
      JSR_URL: registry.url,
      DENO_DIR: `${tmp}/deno_dir`,
      HTTP_PROXY: closed,
      HTTPS_PROXY: closed,
      http_proxy: closed,
      https_proxy: closed,
      NO_PROXY: "127.0.0.1",
      no_proxy: "127.0.0.1",
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
    };

    await t.step("deno add writes the import of the docs' deno.json", async () => {
      const lines = md.split("\n").filter((l) => l.startsWith("deno add "));
      assert.deepEqual(lines, ["deno add jsr:@onnxtrain/onnxtrain"]);
      const r = await deno(lines[0].split(" ").slice(1), project, env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const written = JSON.parse(await Deno.readTextFile(`${project}/deno.json`));
      assert.deepEqual(written, { imports: JSON.parse(denoJson).imports });
      await Deno.writeTextFile(`${project}/deno.json`, denoJson);
    });

    await t.step("train.ts trains and exports, with -P and with the flags", async () => {
      const logs: string[] = [];
      for (const args of docCommands(md, " train.ts ", 2)) {
        const r = await deno(args, project, env);
        const what = `deno ${args.join(" ")}`;
        assert.equal(r.code, 0, `${what}\n${r.stdout}${r.stderr}`);
        assert.equal(r.stderr, "", `${what}: -q leaves stderr empty (no download, no warning)`);
        const losses = testLosses(r.stdout);
        assert.equal(losses.length, 5, r.stdout);
        for (let i = 1; i < losses.length; i++) {
          assert.ok(losses[i] < losses[i - 1], `${what}: test losses ${losses} decrease`);
        }
        assert.ok(losses[4] < 0.5 * losses[0], `${what}: test losses ${losses} halve`);
        assert.ok(r.stdout.endsWith("Done!\n"), r.stdout);
        assert.deepEqual(await exported(`${project}/model.onnx`), {
          input: ["input float32 [N, 2]"],
          outputs: ["logits"],
          params: ["32x2", "32", "2x32", "2"],
        });
        await Deno.remove(`${project}/model.onnx`);
        logs.push(r.stdout);
      }
      assert.equal(logs[1], logs[0], "--seed 1: the same log with -P and with the flags");
      const lock = JSON.parse(await Deno.readTextFile(`${project}/deno.lock`));
      assert.deepEqual(Object.keys(lock.jsr), [`${pkg.name}@${pkg.version}`]);
    });

    await t.step(
      "without --allow-ffi it stops with one line naming the permission and the flag",
      async () => {
        const [flags] = docCommands(md, " train.ts ", 2).filter((a) => !a.includes("-P"));
        assert.ok(flags.includes("--allow-ffi=./node_modules"), flags.join(" "));
        const args = [
          "run",
          "--no-prompt",
          ...flags.slice(1).filter((a) => !/^--allow-ffi/.test(a)),
        ];
        const r = await deno(args, project, env);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(r.stdout, "");
        const addon = `${project}/node_modules/.deno/onnxruntime-node@1.30.0/node_modules/` +
          `onnxruntime-node/bin/napi-v6/${Deno.build.os === "windows" ? "win32" : Deno.build.os}/` +
          `${Deno.build.arch === "x86_64" ? "x64" : "arm64"}/onnxruntime_binding.node`;
        assert.equal(
          r.stderr,
          `error: Missing ffi permission for ${addon}: run with --allow-ffi=./node_modules\n`,
        );
      },
    );

    await t.step("fmnist.ts trains on ./data, with -P and with the flags", async () => {
      // A small stand-in for the download, in torchvision's layout under the script's root.
      await writeIdxFiles(
        FASHION_MNIST,
        `${project}/data`,
        syntheticFashionMnist({ train: 256, test: 64, seed: 1 }),
      );
      for (const args of docCommands(md, " fmnist.ts ", 2)) {
        const r = await deno(args, project, env);
        const what = `deno ${args.join(" ")}`;
        assert.equal(r.code, 0, `${what}\n${r.stdout}${r.stderr}`);
        assert.equal(r.stderr, "", what);
        assert.equal(testLosses(r.stdout).length, 3, r.stdout);
        assert.deepEqual(await exported(`${project}/fmnist.onnx`), {
          input: ["input float32 [N, 1, 28, 28]"],
          outputs: ["logits"],
          params: ["128x784", "128", "10x128", "10"],
        });
        await Deno.remove(`${project}/fmnist.onnx`);
      }
    });
  } finally {
    await registry?.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
