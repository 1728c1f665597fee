/**
 * Renders docs/configuration.md from the configuration schema: every key with its type, default,
 * environment variable and description. The document is generated, never edited by hand; a test
 * fails when the committed copy differs (`latchkey docs config --out docs/configuration.md`).
 */
import { ENV_DATA_KEY, ENV_HMAC_KEY } from "./load.js";
import { configSchema } from "./schema.js";
import { type FieldInfo, walkSchema } from "./walk.js";

export const CONFIGURATION_DOC_PATH = "docs/configuration.md";
export const REGENERATE_COMMAND =
  "npm run build && node packages/server/dist/cli/main.js docs config --out docs/configuration.md";

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function displayPath(f: FieldInfo): string {
  return f.path.join(".").replace(/\.\[\]/g, "[]");
}

function defaultOf(f: FieldInfo): string {
  if (f.section) return "";
  if (!f.hasDefault) return f.nullable ? "—" : "**required**";
  const v = f.defaultValue;
  if (v === null) return "none";
  return `\`${cell(JSON.stringify(v))}\``;
}

function row(f: FieldInfo): string {
  const variant = f.variant ? ` (when \`${f.variant}\`)` : "";
  const env = f.env ? `\`${f.env}\`` : "";
  const type = f.section ? "section" : `\`${cell(f.type)}\`${f.nullable ? " or null" : ""}`;
  return `| \`${displayPath(f)}\` | ${type} | ${defaultOf(f)} | ${env} | ${cell(f.description)}${variant} |`;
}

const EXAMPLE = `server:
  host: 0.0.0.0
  port: 8080
  publicUrl: https://reset.example.com
  trustProxy: ["10.0.0.5"]
database:
  url: postgres://latchkey@db.internal:5432/latchkey
secrets:
  hmacKeyFile: /etc/latchkey/hmac.key    # openssl rand -base64 32; chmod 600
  dataKeyFile: /etc/latchkey/data.key
smtp:
  host: smtp.example.com
  port: 587
  from: "Example IT <no-reply@example.com>"
  auth:
    user: latchkey
    passwordFile: /etc/latchkey/smtp.password
sms:
  type: twilio
  accountSid: AC0123456789abcdef0123456789abcdef
  authTokenFile: /etc/latchkey/twilio.token
  from: "+15005550006"
tenant:
  slug: example
  name: Example Ltd
  settings:
    reset:
      gates: 2
directories:
  - id: corp
    url: ldaps://dc1.corp.example.com:636
    caFile: /etc/latchkey/corp-ca.pem
    bindDn: CN=latchkey,OU=Service,DC=corp,DC=example,DC=com
    bindPasswordFile: /etc/latchkey/corp-bind.password
    baseDn: DC=corp,DC=example,DC=com
    userFilter: (&(objectClass=user)(objectCategory=person))
`;

export function renderConfigurationDoc(): string {
  const fields = walkSchema(configSchema);
  const sections = new Map<string, FieldInfo[]>();
  for (const f of fields) {
    const top = f.path[0] ?? "";
    const list = sections.get(top) ?? [];
    list.push(f);
    sections.set(top, list);
  }
  const out = [
    "# Configuration",
    "",
    "Generated from `packages/server/src/config/schema.ts` by `latchkey docs config`; do not edit by hand.",
    `Regenerate with \`${REGENERATE_COMMAND}\`.`,
    "",
    "This is the configuration of the `latchkey` process. Per-tenant settings (methods, gates, password",
    "policy, throttles, branding) live in the store and are changed in the admin console; `tenant.settings`",
    "below only seeds the first tenant.",
    "",
    "## Where values come from",
    "",
    "1. Built-in defaults (below).",
    "2. The YAML file given with `--config <path>`, or `./latchkey.yaml` when it exists.",
    "3. Environment variables: `LATCHKEY_` followed by the key path, levels separated by a double",
    "   underscore and camelCase written as SNAKE_CASE: `server.publicUrl` is `LATCHKEY_SERVER__PUBLIC_URL`,",
    "   `smtp.auth.user` is `LATCHKEY_SMTP__AUTH__USER`. A value is read as JSON when it parses as JSON",
    '   (`9090`, `true`, `["10.0.0.5"]`, `{"type":"none"}`) and as a string otherwise; write `\'"123"\'` to get',
    "   the string `123`. An empty value counts as unset. A whole section or list can be given as JSON",
    "   (`LATCHKEY_DIRECTORIES='[…]'`). A `LATCHKEY_…__…` variable that names no key is an error.",
    "4. What a command sets itself (`latchkey demo` turns on `demo` and, unless given, uses",
    "   `sqlite:./data/demo.db` and `server.cookieSecure: false`).",
    "",
    "Relative paths are resolved against the working directory.",
    "",
    "## Secrets",
    "",
    "No secret is ever accepted in clear in the YAML file: a key such as `secrets.hmacKey`, `password`,",
    "`token` or `secret`, a credential header of an HTTP provider, or a password inside `database.url`",
    "stops the program with the fix to apply. Secrets come from files, which must be readable by their",
    "owner only (`chmod 600`; a file whose mode allows group or others is refused), or, for the two server",
    "keys, from the environment:",
    "",
    "| key | file | environment |",
    "|---|---|---|",
    `| HMAC key (codes are stored as HMACs under it) | \`secrets.hmacKeyFile\` | \`${ENV_HMAC_KEY}\` |`,
    `| data key (seals TOTP secrets and queued messages) | \`secrets.dataKeyFile\` | \`${ENV_DATA_KEY}\` |`,
    "",
    "Each key is 32 random bytes written as base64 or as 64 hex digits (`openssl rand -base64 32`); the",
    "two must differ. When both a file and the variable are set, the variable wins. Outside demo mode a",
    "missing key stops the program; in demo mode a missing key is generated for the run (and everything",
    "sealed under it is lost when the process stops).",
    "",
    "## Errors",
    "",
    "An invalid or insecure configuration stops every command before anything is written (no data",
    "directory, no database file) with exit status 2 and one line on standard error:",
    "",
    "```",
    "latchkey: config error at directories[0].url: plain ldap:// without StartTLS would send passwords in clear; use ldaps:// or set startTls: true",
    "```",
    "",
    "## Example",
    "",
    "```yaml",
    EXAMPLE.trimEnd(),
    "```",
    "",
    "## Keys",
    "",
  ];
  for (const [top, list] of sections) {
    const head = list[0];
    out.push(`### \`${top}\``, "");
    if (head?.description) out.push(head.description, "");
    out.push("| key | type | default | environment | description |", "|---|---|---|---|---|");
    for (const f of list) out.push(row(f));
    out.push("");
  }
  return `${out.join("\n").trimEnd()}\n`;
}
