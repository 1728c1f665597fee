/**
 * Loads the agent's configuration: the YAML file (`--config`, default ./latchkey-agent.yaml), then
 * LATCHKEY_AGENT_* variables (levels joined by `__`, camelCase as SNAKE_CASE:
 * `server.url` → LATCHKEY_AGENT_SERVER__URL; values parsed as JSON when they parse), then the schema,
 * then the files: each password file must exist and be readable by its owner only.
 * Failures are AgentConfigError with the key and the fix; the CLI prints one line and exits 2.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { type AgentConfig, agentConfigSchema } from "./schema.js";

export const DEFAULT_AGENT_CONFIG_FILE = "latchkey-agent.yaml";
const ENV_PREFIX = "LATCHKEY_AGENT_";

export class AgentConfigError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`config error at ${key}: ${problem}; ${fix}`.replace(/\s+/g, " "));
    this.name = "AgentConfigError";
  }
  line(): string {
    return `latchkey-agent: ${this.message}`;
  }
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => v !== null && typeof v === "object" && !Array.isArray(v);

function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || "(root)";
}

const camel = (snake: string) =>
  snake.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function applyEnv(raw: Raw, env: NodeJS.ProcessEnv): Raw {
  const out = structuredClone(raw);
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (!name.startsWith(ENV_PREFIX) || value === undefined || value === "") continue;
    const path = name.slice(ENV_PREFIX.length).split("__").map(camel);
    let node = out;
    path.forEach((k, i) => {
      if (i === path.length - 1) {
        try {
          node[k] = JSON.parse(value);
        } catch {
          node[k] = value;
        }
      } else {
        if (!isObject(node[k])) node[k] = {};
        node = node[k] as Raw;
      }
    });
  }
  return out;
}

function rejectClearSecrets(v: unknown, path: (string | number)[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      rejectClearSecrets(x, [...path, i]);
    });
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!/file$/i.test(k) && /(password|passwd|secret|token|privatekey)$/i.test(k)) {
        throw new AgentConfigError(
          keyPath([...path, k]),
          "a secret is written in clear in the configuration file",
          `put it in a file with mode 0600 and set ${k}File instead`,
        );
      }
      rejectClearSecrets(x, [...path, k]);
    }
  }
}

/** Checks a secret file: a regular file, readable by its owner only. */
export function checkSecretFile(path: string, key: string): void {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a file");
    mode = st.mode;
  } catch {
    throw new AgentConfigError(
      key,
      `the file ${path} does not exist or is not a file`,
      "create it or correct the path",
    );
  }
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    throw new AgentConfigError(
      key,
      `the secret file ${path} is readable by group or others (mode 0${(mode & 0o777).toString(8)})`,
      `run: chmod 600 ${path}`,
    );
  }
}

export function readSecretFile(path: string, key: string): string {
  checkSecretFile(path, key);
  const value = readFileSync(path, "utf8").replace(/\r?\n$/, "");
  if (!value) throw new AgentConfigError(key, `the file ${path} is empty`, "write the secret into it");
  return value;
}

/**
 * The service account's password of directory `index`: from its file (checked again: mode 0600) or
 * from the named environment variable. Never from the configuration itself.
 */
export function readBindPassword(
  d: AgentConfig["directories"][number],
  index: number,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (d.bindPasswordFile !== undefined)
    return readSecretFile(d.bindPasswordFile, `directories[${index}].bindPasswordFile`);
  const name = d.bindPasswordEnv ?? "";
  const value = env[name];
  if (!value)
    throw new AgentConfigError(
      `directories[${index}].bindPasswordEnv`,
      `the environment variable ${name || "(unset)"} is not set or empty`,
      "set it in the agent's environment",
    );
  return value;
}

export interface LoadAgentConfigOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedAgentConfig {
  config: AgentConfig;
  file: string | null;
}

export async function loadAgentConfig(opts: LoadAgentConfigOptions = {}): Promise<LoadedAgentConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  let file: string | null = null;
  if (opts.path !== undefined) {
    file = abs(opts.path);
    if (!existsSync(file))
      throw new AgentConfigError(
        "--config",
        `the file ${file} does not exist`,
        "give the path of an existing file",
      );
  } else if (existsSync(resolve(cwd, DEFAULT_AGENT_CONFIG_FILE))) {
    file = resolve(cwd, DEFAULT_AGENT_CONFIG_FILE);
  }
  let raw: Raw = {};
  if (file) {
    const doc = parseDocument(readFileSync(file, "utf8"), { prettyErrors: false, uniqueKeys: true });
    const first = doc.errors[0];
    if (first) {
      const at = first.linePos?.[0];
      throw new AgentConfigError(
        file,
        `the YAML does not parse${at ? ` (line ${at.line})` : ""}: ${first.code}`,
        "fix the YAML syntax",
      );
    }
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined && !isObject(value)) {
      throw new AgentConfigError(file, "the file is not a YAML mapping", "write keys (see docs/cli.md)");
    }
    raw = (value as Raw | null) ?? {};
    rejectClearSecrets(raw, []);
  }
  raw = applyEnv(raw, env);
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    if (!i) throw new AgentConfigError("(root)", "the configuration is invalid", "see docs/cli.md");
    let path = [...i.path];
    let problem = i.message;
    let fix = "correct the value (see docs/cli.md)";
    if (i.code === "unrecognized_keys") {
      path = [...path, i.keys[0] ?? ""];
      problem = "unknown key";
      fix = "remove it or check the spelling";
    } else if (i.code === "custom" && typeof i.params?.fix === "string") fix = i.params.fix;
    else if (i.code === "invalid_type" && i.message.endsWith("received undefined")) {
      problem = "missing";
      fix = "set it (see docs/cli.md)";
    }
    throw new AgentConfigError(
      keyPath(path.filter((p): p is string | number => typeof p !== "symbol")),
      problem,
      fix,
    );
  }
  const config = structuredClone(parsed.data);
  config.keyFile = abs(config.keyFile);
  if (config.server.caFile) config.server.caFile = abs(config.server.caFile);
  if (config.stateFile) config.stateFile = abs(config.stateFile);
  config.directories.forEach((d, i) => {
    if (d.bindPasswordFile !== undefined) {
      d.bindPasswordFile = abs(d.bindPasswordFile);
      checkSecretFile(d.bindPasswordFile, `directories[${i}].bindPasswordFile`);
    } else if (d.bindPasswordEnv !== undefined && !env[d.bindPasswordEnv]) {
      throw new AgentConfigError(
        `directories[${i}].bindPasswordEnv`,
        `the environment variable ${d.bindPasswordEnv} is not set or empty`,
        "set it in the agent's environment (e.g. the service unit's EnvironmentFile)",
      );
    }
    if (d.caFile) {
      d.caFile = abs(d.caFile);
      if (!existsSync(d.caFile))
        throw new AgentConfigError(
          `directories[${i}].caFile`,
          `the file ${d.caFile} does not exist`,
          "correct the path",
        );
    }
  });
  if (existsSync(config.keyFile)) checkSecretFile(config.keyFile, "keyFile");
  return { config, file };
}
