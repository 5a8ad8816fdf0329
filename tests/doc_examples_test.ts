// Every public export's @example runs: `deno test --doc mod.ts src/` in a subprocess (the plain
// `deno test` runs only the *_test.ts files), so CI's one test command checks the docs too. Each
// example is a module of its own that loads the library: `--parallel` runs them on every core
// (≈ 83 s instead of ≈ 175 s on 2 cores).
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { assert } from "./_assert.ts";

Deno.test("the JSDoc examples of mod.ts and src/ type-check and run", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-q", "-P", "--doc", "--parallel", "mod.ts", "src/"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const plain = stripVTControlCharacters(out);
  const summary = plain.match(/(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  assert.ok(summary, `no summary in the doc tests' output:\n${plain.slice(-3000)}`);
  assert.equal(code, 0, plain.slice(-3000));
  assert.ok(Number(summary[2]) > 300, `only ${summary[2]} doc tests ran`);
});
