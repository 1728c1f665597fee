/**
 * Loads the process configuration: built-in defaults, then the YAML file (`--config`, or
 * `./latchkey.yaml` when present), then `LATCHKEY_*` environment variables, then validation by the
 * one schema, then the checks only the file system can answer (secret files, their modes, the keys).
 * Any failure is a ConfigError naming the key and the fix; nothing is written before it passes.
 *
 * Environment variables: `LATCHKEY_` + the key path with `__` between levels and camelCase written
 * as SNAKE_CASE (`server.publicUrl` → `LATCHKEY_SERVER__PUBLIC_URL`). A value is parsed as JSON
 * when it parses (`9090`, `true`, `["10.0.0.1"]`), else taken as a string; an empty value counts as
 * unset. The two server keys have their own variables: LATCHKEY_SECRETS_HMAC_KEY and
 * LATCHKEY_SECRETS_DATA_KEY (the key itself, base64 or hex).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import { randomSecrets, type ServerSecrets } from "../core/secrets.js";
import { ConfigError, keyPath } from "./errors.js";
import { type Config, configSchema } from "./schema.js";
import { checkReadableFile, checkSecretFile, decodeKey, readSecretFile } from "./secret-file.js";
import { envMapping, walkSchema } from "./walk.js";

export const DEFAULT_CONFIG_FILE = "latchkey.yaml";
export const ENV_HMAC_KEY = "LATCHKEY_SECRETS_HMAC_KEY";
export const ENV_DATA_KEY = "LATCHKEY_SECRETS_DATA_KEY";

type Raw = Record<string, unknown>;

export interface LoadConfigOptions {
  /** Path of the YAML file (`--config`); when absent, `./latchkey.yaml` is read if it exists. */
  path?: string;
  /** Environment to read `LATCHKEY_*` from; `process.env` when absent. */
  env?: NodeJS.ProcessEnv;
  /** Directory that relative paths are resolved against; `process.cwd()` when absent. */
  cwd?: string;
  /** Defaults of a command (e.g. `demo`'s database), below the file and the environment. */
  defaults?: Raw;
  /** Values a command forces (e.g. `demo: true`), above the file and the environment. */
  overrides?: Raw;
  /**
   * Whether the command needs the server keys (default true). Commands that never use them
   * (migrate, admin views) pass false: missing keys are then replaced by throwaway ones, while
   * configured key files are still checked.
   */
  requireSecrets?: boolean;
}

export interface LoadedConfig {
  /** Validated, with defaults applied and relative paths made absolute. */
  config: Config;
  secrets: ServerSecrets;
  /** True when demo mode generated the keys for this run (they die with the process). */
  secretsGenerated: boolean;
  /** Where Latchkey is reached: `server.publicUrl`, or `http://<host>:<port>`. */
  publicUrl: string;
  /** What contributed: the file read (if any) and the names (never values) of the variables used. */
  source: { file: string | null; env: string[] };
}

const FIELDS = walkSchema(configSchema);
const ENV_KEYS = envMapping(FIELDS);
const FIX_DOCS = "see docs/configuration.md";

function isObject(v: unknown): v is Raw {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function deepMerge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function setPath(target: Raw, path: string[], value: unknown): void {
  let node = target;
  path.forEach((k, i) => {
    if (i === path.length - 1) {
      node[k] = value;
      return;
    }
    const next = node[k];
    if (!isObject(next)) node[k] = {};
    node = node[k] as Raw;
  });
}

async function readYaml(file: string): Promise<Raw> {
  // Loaded only when there is a file: the environment-only deployments skip the parser.
  const { parseDocument } = await import("yaml");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(
      "--config",
      `the file ${file} cannot be read`,
      "check the path and its permissions",
    );
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    const where = at ? ` (line ${at.line}, column ${at.col})` : "";
    throw new ConfigError(file, `the YAML does not parse${where}: ${first.code}`, "fix the YAML syntax");
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isObject(value))
    throw new ConfigError(file, "the file is not a YAML mapping", `write keys, ${FIX_DOCS}`);
  return value;
}

/** Where a secret written in clear belongs instead. */
function clearSecretFix(path: string[]): string | null {
  const key = path.join(".");
  if (key === "secrets.hmacKey")
    return `put it in a file with mode 0600 and set secrets.hmacKeyFile, or set ${ENV_HMAC_KEY}`;
  if (key === "secrets.dataKey")
    return `put it in a file with mode 0600 and set secrets.dataKeyFile, or set ${ENV_DATA_KEY}`;
  const last = path[path.length - 1] ?? "";
  if (/file$/i.test(last)) return null;
  if (
    /(password|passwd|pass|secret|token|apikey|api_key|privatekey|private_key|hmackey|datakey)$/i.test(last)
  ) {
    return `put it in a file with mode 0600 and set ${last}File instead`;
  }
  return null;
}

/** Refuses secrets written in clear in the file (the environment is the other accepted place). */
function rejectClearSecrets(raw: Raw, file: string): void {
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, [...path, i]);
      });
    } else if (isObject(v)) {
      if (path.join(".") === "tenant.settings") return;
      for (const [k, x] of Object.entries(v)) {
        const p = [...path, k];
        const fix = clearSecretFix(p.filter((s): s is string => typeof s === "string"));
        if (fix) throw new ConfigError(keyPath(p), `a secret is written in clear in ${file}`, fix);
        walk(x, p);
      }
    }
  };
  walk(raw, []);
  const db = raw.database;
  if (isObject(db) && typeof db.url === "string" && /^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(db.url)) {
    throw new ConfigError(
      "database.url",
      `the database password is written in clear in ${file}`,
      "put it in ~/.pgpass or PGPASSWORD, or set LATCHKEY_DATABASE__URL in the environment",
    );
  }
}

function parseEnvValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function applyEnv(raw: Raw, env: NodeJS.ProcessEnv, used: string[]): Raw {
  const out = structuredClone(raw);
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("LATCHKEY_") || name === ENV_HMAC_KEY || name === ENV_DATA_KEY) continue;
    const value = env[name];
    if (value === undefined || value === "") continue;
    const path = ENV_KEYS.get(name);
    if (!path) {
      // Variables without a `__` may belong to something else (tests, scripts); with one, a typo.
      if (name.includes("__")) {
        const hint =
          name === "LATCHKEY_SECRETS__HMAC_KEY" || name === "LATCHKEY_SECRETS__DATA_KEY"
            ? `the key variables are ${ENV_HMAC_KEY} and ${ENV_DATA_KEY}`
            : `check the spelling, ${FIX_DOCS} lists the variables`;
        throw new ConfigError(name, "no configuration key has this variable", hint);
      }
      continue;
    }
    setPath(out, path, parseEnvValue(value));
    used.push(name);
  }
  return out;
}

/** The first schema issue, as a ConfigError with the key path and a fix. */
function toConfigError(error: z.ZodError, envUsed: string[]): ConfigError {
  const first = error.issues[0];
  if (!first) return new ConfigError("(root)", "the configuration is invalid", FIX_DOCS);
  let path = [...first.path];
  let problem = first.message;
  let fix = `correct the value, ${FIX_DOCS}`;
  if (first.code === "unrecognized_keys") {
    const k = first.keys[0] ?? "";
    path = [...path, k];
    problem = "unknown key";
    fix = `remove it or check the spelling, ${FIX_DOCS}`;
  } else if (first.code === "custom" && typeof first.params?.fix === "string") {
    fix = first.params.fix;
  } else if (first.code === "invalid_type" && first.message.endsWith("received undefined")) {
    problem = "missing";
    fix = `set it, ${FIX_DOCS}`;
  } else if (first.code === "invalid_union" && "options" in first && Array.isArray(first.options)) {
    problem = "unknown variant";
    fix = `use one of: ${first.options.join(", ")}`;
  }
  const key = keyPath(path.filter((p): p is string | number => typeof p !== "symbol"));
  const fromEnv = envUsed.find((n) => ENV_KEYS.get(n)?.join(".") === key);
  return new ConfigError(fromEnv ? `${key} (from ${fromEnv})` : key, problem, fix);
}

function absolute(cwd: string, p: string): string {
  return isAbsolute(p) ? p : resolve(cwd, p);
}

/** Makes every file path absolute and checks each file the server will read. */
function resolveFiles(c: Config, cwd: string): Config {
  const out = structuredClone(c);
  const abs = (p: string) => absolute(cwd, p);
  if (!/^postgres(ql)?:\/\//.test(out.database.url)) {
    const p = out.database.url.replace(/^sqlite:(\/\/)?/, "");
    out.database.url = p === ":memory:" ? "sqlite::memory:" : `sqlite:${abs(p)}`;
  }
  if (out.secrets.hmacKeyFile) out.secrets.hmacKeyFile = abs(out.secrets.hmacKeyFile);
  if (out.secrets.dataKeyFile) out.secrets.dataKeyFile = abs(out.secrets.dataKeyFile);
  if (out.smtp) {
    if (out.smtp.caFile) {
      out.smtp.caFile = abs(out.smtp.caFile);
      checkReadableFile(out.smtp.caFile, "smtp.caFile");
    }
    if (out.smtp.auth) {
      out.smtp.auth.passwordFile = abs(out.smtp.auth.passwordFile);
      checkSecretFile(out.smtp.auth.passwordFile, "smtp.auth.passwordFile");
    }
  }
  if (out.server.metrics.tokenFile) {
    out.server.metrics.tokenFile = abs(out.server.metrics.tokenFile);
    checkSecretFile(out.server.metrics.tokenFile, "server.metrics.tokenFile");
  }
  for (const channel of ["sms", "voice"] as const) {
    const p = out[channel];
    if (p.type === "twilio") {
      p.authTokenFile = abs(p.authTokenFile);
      checkSecretFile(p.authTokenFile, `${channel}.authTokenFile`);
    } else if (p.type === "http") {
      for (const [h, f] of Object.entries(p.headerFiles)) {
        p.headerFiles[h] = abs(f);
        checkSecretFile(abs(f), `${channel}.headerFiles.${h}`);
      }
    }
  }
  out.directories.forEach((d, i) => {
    d.bindPasswordFile = abs(d.bindPasswordFile);
    checkSecretFile(d.bindPasswordFile, `directories[${i}].bindPasswordFile`);
    if (d.caFile) {
      d.caFile = abs(d.caFile);
      checkReadableFile(d.caFile, `directories[${i}].caFile`);
    }
  });
  if (out.breached.offlineFile) {
    out.breached.offlineFile = abs(out.breached.offlineFile);
    checkReadableFile(out.breached.offlineFile, "breached.offlineFile");
  }
  return out;
}

const KEY_FIX = (file: string, env: string) =>
  `write 32 random bytes as base64 to a file (openssl rand -base64 32 > key; chmod 600 key) and set ${file}, or set ${env}`;

function loadKey(
  c: Config,
  env: NodeJS.ProcessEnv,
  which: "hmacKey" | "dataKey",
): { key: Buffer; from: "env" | "file" } | null {
  const envName = which === "hmacKey" ? ENV_HMAC_KEY : ENV_DATA_KEY;
  const fileKey = which === "hmacKey" ? "secrets.hmacKeyFile" : "secrets.dataKeyFile";
  const fix = KEY_FIX(fileKey, envName);
  const fromEnv = env[envName];
  if (fromEnv) return { key: decodeKey(fromEnv, envName, fix), from: "env" };
  const file = which === "hmacKey" ? c.secrets.hmacKeyFile : c.secrets.dataKeyFile;
  if (file) return { key: decodeKey(readSecretFile(file, fileKey), fileKey, fix), from: "file" };
  return null;
}

function loadSecrets(
  c: Config,
  env: NodeJS.ProcessEnv,
  required: boolean,
): { secrets: ServerSecrets; generated: boolean } {
  const hmac = loadKey(c, env, "hmacKey");
  const data = loadKey(c, env, "dataKey");
  if (!hmac || !data) {
    if (c.demo || !required) {
      const random = randomSecrets();
      return {
        secrets: { hmacKey: hmac?.key ?? random.hmacKey, dataKey: data?.key ?? random.dataKey },
        generated: true,
      };
    }
    const missing = hmac ? "dataKey" : "hmacKey";
    const fileKey = `secrets.${missing}File`;
    const envName = missing === "hmacKey" ? ENV_HMAC_KEY : ENV_DATA_KEY;
    throw new ConfigError(
      fileKey,
      `no ${missing === "hmacKey" ? "HMAC" : "data"} key is configured (required outside demo mode)`,
      KEY_FIX(fileKey, envName),
    );
  }
  if (hmac.key.equals(data.key)) {
    throw new ConfigError(
      "secrets.dataKeyFile",
      "the data key is the same as the HMAC key",
      "generate a separate random key for each",
    );
  }
  return { secrets: { hmacKey: hmac.key, dataKey: data.key }, generated: false };
}

export function publicUrlOf(c: Config): string {
  if (c.server.publicUrl) return c.server.publicUrl.replace(/\/+$/, "");
  const host = c.server.host.includes(":") ? `[${c.server.host}]` : c.server.host;
  return `http://${host}:${c.server.port}`;
}

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;

  let file: string | null = null;
  if (opts.path !== undefined) {
    file = absolute(cwd, opts.path);
    if (!existsSync(file)) {
      throw new ConfigError(
        "--config",
        `the file ${file} does not exist`,
        "give the path of an existing file",
      );
    }
  } else if (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE))) {
    file = resolve(cwd, DEFAULT_CONFIG_FILE);
  }

  const fromFile = file ? await readYaml(file) : {};
  if (file) rejectClearSecrets(fromFile, file);

  const envUsed: string[] = [];
  let raw = deepMerge(opts.defaults ?? {}, fromFile);
  raw = applyEnv(raw, env, envUsed);
  raw = deepMerge(raw, opts.overrides ?? {});

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw toConfigError(parsed.error, envUsed);

  const config = resolveFiles(parsed.data, cwd);
  const { secrets, generated } = loadSecrets(config, env, opts.requireSecrets ?? true);
  return {
    config,
    secrets,
    secretsGenerated: generated,
    publicUrl: publicUrlOf(config),
    source: { file, env: envUsed },
  };
}
