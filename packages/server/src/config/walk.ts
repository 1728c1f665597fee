/**
 * Walks the configuration schema into a flat list of fields (key path, type, default, description,
 * environment variable). The documentation generator and the environment-override mapping both read
 * this list, so the docs always name the variables the loader really accepts.
 */
import type { z } from "zod";

export interface FieldInfo {
  /** Key path; `[]` marks the elements of an array (`directories[].url`). */
  path: string[];
  /** Human-readable type, e.g. `integer`, `"a" | "b"`, `list of string`. */
  type: string;
  /** Whether a default applies when the key is absent. */
  hasDefault: boolean;
  defaultValue: unknown;
  nullable: boolean;
  description: string;
  /** For fields of one variant of a discriminated union: e.g. `type: http`. */
  variant?: string;
  /** An object whose fields are listed after it. */
  section: boolean;
  /** The environment variable that sets it, or null (array elements, variant-only fields share one). */
  env: string | null;
}

/** Paths below which the walker stops: validated by another schema with its own docs. */
const OPAQUE = new Set(["tenant.settings"]);

interface ZodDef {
  type: string;
  innerType?: z.ZodType;
  defaultValue?: unknown;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  entries?: Record<string, string>;
  values?: unknown[];
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}

function defOf(s: z.ZodType): ZodDef {
  return (s as unknown as { _zod: { def: ZodDef } })._zod.def;
}

interface Unwrapped {
  core: z.ZodType;
  description: string;
  hasDefault: boolean;
  defaultValue: unknown;
  nullable: boolean;
  optional: boolean;
}

/** Peels default/prefault/optional/nullable wrappers, keeping the outermost description. */
function unwrap(schema: z.ZodType): Unwrapped {
  let s = schema;
  const out: Unwrapped = {
    core: s,
    description: "",
    hasDefault: false,
    defaultValue: undefined,
    nullable: false,
    optional: false,
  };
  for (;;) {
    if (!out.description && s.description) out.description = s.description;
    const d = defOf(s);
    if (d.type === "default" || d.type === "prefault") {
      if (!out.hasDefault) {
        out.hasDefault = true;
        out.defaultValue = d.defaultValue;
      }
    } else if (d.type === "nullable") out.nullable = true;
    else if (d.type === "optional") out.optional = true;
    else if (d.type !== "pipe") break;
    const next = d.type === "pipe" ? d.in : d.innerType;
    if (!next) break;
    s = next;
  }
  out.core = s;
  return out;
}

function typeName(s: z.ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case "string":
      return "string";
    case "number":
      return "number";
    case "int":
      return "integer";
    case "boolean":
      return "boolean";
    case "enum":
      return Object.values(d.entries ?? {})
        .map((v) => JSON.stringify(v))
        .join(" | ");
    case "literal":
      return (d.values ?? []).map((v) => JSON.stringify(v)).join(" | ");
    case "array":
      return `list of ${d.element ? typeName(unwrap(d.element).core) : "?"}`;
    case "record":
      return `map of ${d.valueType ? typeName(unwrap(d.valueType).core) : "?"}`;
    case "object":
      return "object";
    case "union": {
      if (d.discriminator) return `one of the variants by \`${d.discriminator}\``;
      return (d.options ?? []).map((o) => typeName(unwrap(o).core)).join(" or ");
    }
    default:
      return d.type;
  }
}

function isInteger(s: z.ZodType): boolean {
  return (s as unknown as { isInt?: boolean }).isInt === true;
}

/** `publicUrl` → `PUBLIC_URL` */
export function envSegment(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

export function envName(path: string[]): string {
  return `LATCHKEY_${path.map(envSegment).join("__")}`;
}

export function walkSchema(schema: z.ZodType): FieldInfo[] {
  const out: FieldInfo[] = [];
  visit(schema, [], undefined, false, out);
  return out;
}

function visit(
  schema: z.ZodType,
  path: string[],
  variant: string | undefined,
  inArray: boolean,
  out: FieldInfo[],
): void {
  const u = unwrap(schema);
  const d = defOf(u.core);
  const key = path.join(".");
  const opaque = OPAQUE.has(key);
  let type = typeName(u.core);
  if (type === "number" && isInteger(u.core)) type = "integer";
  const section = !opaque && (d.type === "object" || (d.type === "union" && !!d.discriminator));
  if (path.length > 0 && path[path.length - 1] !== "[]") {
    out.push({
      path,
      type,
      hasDefault: u.hasDefault,
      defaultValue: u.defaultValue,
      nullable: u.nullable,
      description: u.description,
      section,
      env: inArray ? null : envName(path),
      ...(variant ? { variant } : {}),
    });
  }
  if (opaque) return;
  if (d.type === "object" && d.shape) {
    for (const [k, v] of Object.entries(d.shape)) visit(v, [...path, k], variant, inArray, out);
  } else if (d.type === "union" && d.discriminator && d.options) {
    const disc = d.discriminator;
    const seen = new Set<string>();
    for (const option of d.options) {
      const od = defOf(unwrap(option).core);
      const tag = od.shape?.[disc];
      const tagValue = tag ? (defOf(unwrap(tag).core).values?.[0] as string) : "?";
      for (const [k, v] of Object.entries(od.shape ?? {})) {
        if (k === disc) {
          if (seen.has(k)) continue;
          seen.add(k);
          const values = d.options.map((o) => {
            const t = defOf(unwrap(o).core).shape?.[disc];
            return t ? JSON.stringify(defOf(unwrap(t).core).values?.[0]) : "?";
          });
          out.push({
            path: [...path, k],
            type: values.join(" | "),
            hasDefault: false,
            defaultValue: undefined,
            nullable: false,
            description: `Which variant: ${values.join(", ")}.`,
            section: false,
            env: inArray ? null : envName([...path, k]),
          });
          continue;
        }
        visit(v, [...path, k], `${disc}: ${tagValue}`, inArray, out);
      }
    }
  } else if (d.type === "array" && d.element) {
    const el = unwrap(d.element);
    if (defOf(el.core).type === "object") visit(el.core, [...path, "[]"], variant, true, out);
  }
}

/** Key paths the environment may set, with their variable names; variant fields are listed once. */
export function envMapping(fields: FieldInfo[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const f of fields) {
    if (f.path.includes("[]")) continue;
    const name = envName(f.path);
    if (!map.has(name)) map.set(name, f.path);
  }
  return map;
}
