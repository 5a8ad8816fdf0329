/**
 * ONNX's own reference tooling for tests: onnx.checker with full_check and strict shape inference
 * (Debian's python3-onnx 1.12, which .ci/run installs), run on emitted model files.
 * @module
 */
import type { Dim } from "../src/ir/types.ts";

const PYTHON = "/usr/bin/python3";

/** Whether `/usr/bin/python3` can import onnx (tests that need it are ignored otherwise). */
export async function hasOnnx(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(PYTHON, {
      args: ["-c", "import onnx"],
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const CHECK = `
import json, sys, onnx
out = {}
for path in sys.argv[1:]:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out[path] = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
                 for o in inferred.graph.output}
print(json.dumps(out))
`;

/**
 * Runs onnx.checker on model files.
 *
 * @param files Paths of ONNX models.
 * @returns Per file, the output shapes that ONNX's shape inference gives.
 * @throws {Error} With the checker's message when it rejects a model.
 */
export async function onnxCheck(
  files: readonly string[],
): Promise<Record<string, Record<string, Dim[]>>> {
  const { success, stdout, stderr } = await new Deno.Command(PYTHON, {
    args: ["-c", CHECK, ...files],
  }).output();
  if (!success) {
    throw new Error(`onnx.checker rejected a graph:\n${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(stdout));
}
