/**
 * Compiles a Circom 2 circuit with the WASM build of circom shipped in the `circom2`
 * npm package (no native compiler or download needed), producing r1cs, wasm and sym.
 */
import { spawn } from "child_process";
import { promises as fs } from "fs";
import path from "path";

import { readR1csHeader } from "./r1cs.js";
import { createRequire } from "node:module";
import { CIRCUIT_LIB_DIR } from "../paths.js";

const require = createRequire(import.meta.url);

/**
 * Include paths every compilation gets, so circuits can `include "fixedpoint.circom"` and
 * `include "circomlib/circuits/…"` (circomlib is found wherever npm installed it).
 */
export const DEFAULT_INCLUDE_PATHS: readonly string[] = [
  CIRCUIT_LIB_DIR,
  path.dirname(path.dirname(require.resolve("circomlib/package.json"))),
];

export interface CompileOptions {
  /** The `.circom` file holding `component main`. */
  circuitPath: string;
  /** Directory for the outputs; created if missing. */
  outDir: string;
  /** Extra include directories, searched before the defaults. */
  includePaths?: string[];
  /** Receives the compiler's output, line by line. */
  onLog?: (line: string) => void;
  /**
   * Simplification level, `2` (`--O2`) unless stated. Production circuits always use
   * `--O2`. `0` keeps every signal as a witness wire; tests use it to tamper with
   * signals that `--O2` would substitute away.
   */
  optimization?: 0 | 1 | 2;
}

export interface CompileResult {
  r1csPath: string;
  wasmPath: string;
  symPath: string;
  /** Number of constraints in the r1cs (after simplification). */
  constraints: number;
  compileMs: number;
}

/** Thrown when circom rejects a circuit; `stderr` holds the compiler's diagnostics. */
export class CircuitCompileError extends Error {
  readonly stderr: string;
  constructor(
    readonly file: string,
    readonly exitCode: number | null,
    stderr: string,
  ) {
    const diagnostics = stripAnsi(stderr).trim();
    super(
      `circom failed to compile ${file} (exit code ${exitCode}). Fix the circuit and recompile.` +
        (diagnostics ? `\n${diagnostics}` : ""),
    );
    this.name = "CircuitCompileError";
    this.stderr = diagnostics;
  }
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

function circomCli(): string {
  return path.join(path.dirname(require.resolve("circom2/package.json")), "cli.js");
}

/** Compiles `circuitPath` to `<outDir>/<name>.r1cs`, `<name>.sym` and `<name>_js/<name>.wasm`. */
export async function compileCircuit(opts: CompileOptions): Promise<CompileResult> {
  const circuitPath = path.resolve(opts.circuitPath);
  const outDir = path.resolve(opts.outDir);
  const optimization = opts.optimization ?? 2;
  const includes = [...(opts.includePaths ?? []).map((p) => path.resolve(p)), ...DEFAULT_INCLUDE_PATHS];

  try {
    await fs.access(circuitPath);
  } catch {
    throw new CircuitCompileError(circuitPath, null, `circuit file not found: ${circuitPath}`);
  }
  await fs.mkdir(outDir, { recursive: true });

  const args = [circomCli(), circuitPath, "--r1cs", "--wasm", "--sym", `--O${optimization}`];
  for (const inc of includes) args.push("-l", inc);
  args.push("-o", outDir);

  const started = Date.now();
  // circom2's WASI sandbox only sees the working directory and its ancestors, and include
  // lookups outside the working directory fail: run from the filesystem root so that every
  // absolute path is inside it.
  const { code, stderr } = await run(process.execPath, args, path.parse(circuitPath).root, opts.onLog);
  const compileMs = Date.now() - started;

  const name = path.basename(circuitPath, ".circom");
  const r1csPath = path.join(outDir, `${name}.r1cs`);
  const wasmPath = path.join(outDir, `${name}_js`, `${name}.wasm`);
  const symPath = path.join(outDir, `${name}.sym`);

  // Also look for circom's error trailer, in case the exit code was lost in the WASI runner.
  if (code !== 0 || /previous errors were found/.test(stderr)) {
    throw new CircuitCompileError(circuitPath, code, stderr);
  }
  for (const p of [r1csPath, wasmPath, symPath]) {
    try {
      await fs.access(p);
    } catch {
      throw new CircuitCompileError(circuitPath, code, `${stderr}\nexpected output missing: ${p}`);
    }
  }

  const { nConstraints } = await readR1csHeader(r1csPath);
  return { r1csPath, wasmPath, symPath, constraints: nConstraints, compileMs };
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  onLog?: (line: string) => void,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const pending = { stdout: "", stderr: "" };
    const forward = (stream: "stdout" | "stderr", text: string): void => {
      if (!onLog) return;
      const lines = (pending[stream] + text).split(/\r?\n/);
      pending[stream] = lines.pop() ?? "";
      for (const line of lines) onLog(stripAnsi(line));
    };
    child.stdout.on("data", (chunk: Buffer) => forward("stdout", chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      stderr += text;
      forward("stderr", text);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (onLog) for (const rest of [pending.stdout, pending.stderr]) if (rest) onLog(stripAnsi(rest));
      resolve({ code, stderr });
    });
  });
}
