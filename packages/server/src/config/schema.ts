/**
 * The process configuration: one zod schema gives the types, the defaults, the validation and (through
 * generate-docs.ts) docs/configuration.md. Per-tenant settings are not here: they live in the store
 * (tenant-settings.ts); only the first tenant's initial settings can be given, under `tenant`.
 *
 * Secrets are never values in this schema. The two server keys come from a file (`secrets.*File`)
 * or the environment (LATCHKEY_SECRETS_HMAC_KEY, LATCHKEY_SECRETS_DATA_KEY); every other credential
 * from a file. The loader (load.ts) refuses a secret written in clear in the YAML file and checks
 * that every secret file is readable by its owner only.
 *
 * Every field ends with `.describe()` (after `.default()`), so the description sits on the outermost
 * schema the docs generator sees; a test checks that none is missing.
 */
import { isIP } from "node:net";
import { directoryTransportIssues } from "@latchkey/protocol";
import { z } from "zod";
import { tenantSettingsSchema } from "./tenant-settings.js";

/** A custom issue that carries how to fix it; load.ts turns it into the one-line error. */
function issue(ctx: z.RefinementCtx, path: (string | number)[], message: string, fix: string): void {
  ctx.addIssue({ code: "custom", message, path, params: { fix } });
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

const filePath = z.string().min(1).max(4096);

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), { message: "must be an http:// or https:// URL" });

const serverSchema = z
  .strictObject({
    host: z.string().min(1).default("127.0.0.1").describe("Address to listen on. `0.0.0.0` listens on all."),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8080)
      .describe("TCP port to listen on (0 picks a free one)."),
    publicUrl: httpUrl
      .nullable()
      .default(null)
      .describe(
        "The URL people use to reach Latchkey (links in messages, cookie scope). Default: `http://<host>:<port>`.",
      ),
    trustProxy: z
      .union([z.boolean(), z.number().int().min(0).max(10), z.array(z.string().min(1)).max(50)])
      .default(false)
      .describe(
        "Trust `X-Forwarded-*` from a reverse proxy: `true`, a hop count, or a list of proxy addresses/CIDRs. Client IPs (rate limits, audit) depend on it.",
      ),
    cookieSecure: z
      .boolean()
      .default(true)
      .describe("Mark cookies `Secure` (sent over HTTPS only). Turn off only for plain-HTTP local testing."),
    metrics: z
      .strictObject({
        access: z
          .enum(["loopback", "token", "public"])
          .default("loopback")
          .describe(
            "Who may read /metrics: `loopback` (clients on this host, after trustProxy), `token` (any client with `Authorization: Bearer <token>`), `public` (anyone: only behind a network that is already private).",
          ),
        tokenFile: filePath
          .nullable()
          .default(null)
          .describe("File holding the bearer token for `access: token` (mode 0600)."),
      })
      .superRefine((m, ctx) => {
        if (m.access === "token" && !m.tokenFile)
          issue(ctx, ["tokenFile"], "access: token needs a token", "set server.metrics.tokenFile");
      })
      .prefault({})
      .describe("The Prometheus endpoint: request paths and counts reveal how the service is used."),
    shutdownTimeoutMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(10_000)
      .describe("On SIGTERM/SIGINT, how long to let requests in flight finish before closing."),
  })
  .prefault({})
  .describe("The HTTP listener.");

const databaseSchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .refine((u) => /^(sqlite:|postgres(ql)?:\/\/)/.test(u) || !u.includes("://"), {
        message: "must be sqlite:<path> or postgres://…",
      })
      .default("sqlite:./data/latchkey.db")
      .describe(
        "Store location: `sqlite:<path>` (one process) or `postgres://user@host:5432/db` (several instances). Put a PostgreSQL password in `~/.pgpass` or `PGPASSWORD`, not in the URL.",
      ),
    poolSize: z.number().int().min(1).max(200).default(10).describe("PostgreSQL connection pool size."),
  })
  .prefault({})
  .describe("The store.");

const secretsSchema = z
  .strictObject({
    hmacKeyFile: filePath
      .nullable()
      .default(null)
      .describe(
        "File holding the HMAC key (32 random bytes, base64 or hex; mode 0600). Codes are stored as HMACs under it. Or set LATCHKEY_SECRETS_HMAC_KEY.",
      ),
    dataKeyFile: filePath
      .nullable()
      .default(null)
      .describe(
        "File holding the data key (32 random bytes, base64 or hex; mode 0600) that seals TOTP secrets and queued messages. Or set LATCHKEY_SECRETS_DATA_KEY.",
      ),
  })
  .prefault({})
  .describe(
    "The server's two keys. Never written in the YAML file; in demo mode, missing keys are generated for the run.",
  );

const smtpSchema = z
  .strictObject({
    host: z.string().min(1).describe("SMTP server host name."),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(587)
      .describe("SMTP port (587 submission, 465 implicit TLS)."),
    secure: z.boolean().default(false).describe("Implicit TLS from the first byte (port 465)."),
    startTls: z
      .boolean()
      .default(true)
      .describe("Require STARTTLS before anything is sent. Plain SMTP is allowed only to a loopback host."),
    from: z.string().min(3).max(320).describe('Sender, e.g. `"Latchkey <no-reply@example.com>"`.'),
    caFile: filePath
      .nullable()
      .default(null)
      .describe("PEM file of the CA that signed the SMTP server's certificate."),
    auth: z
      .strictObject({
        user: z.string().min(1).describe("SMTP user name."),
        passwordFile: filePath.describe("File holding the SMTP password (mode 0600)."),
      })
      .nullable()
      .default(null)
      .describe("SMTP authentication; none when absent."),
  })
  .superRefine((s, ctx) => {
    if (!s.secure && !s.startTls && !isLoopbackHost(s.host)) {
      issue(
        ctx,
        ["startTls"],
        "plain SMTP to a remote host would send codes in clear",
        "set smtp.startTls: true or smtp.secure: true",
      );
    }
  })
  .nullable()
  .default(null)
  .describe("Outgoing mail. Without it, email codes cannot be sent (demo mode shows them on /demo/outbox).");

const PROVIDER_METHODS = ["POST", "PUT", "GET"] as const;

const providerNone = z.strictObject({
  type: z.literal("none").describe("No provider: the channel is off."),
});

const providerHttp = z
  .strictObject({
    type: z.literal("http").describe("A generic HTTP gateway."),
    url: httpUrl.describe("Gateway URL (https://; http:// only to a loopback host). May use `{{to}}`."),
    method: z.enum(PROVIDER_METHODS).default("POST").describe("HTTP method."),
    headers: z
      .record(z.string().min(1).max(100), z.string().max(1000))
      .default({})
      .describe("Extra request headers (not credentials: use headerFiles)."),
    headerFiles: z
      .record(z.string().min(1).max(100), filePath)
      .default({})
      .describe(
        "Request headers whose value is read from a file (mode 0600), e.g. `Authorization: /etc/latchkey/sms-auth`.",
      ),
    bodyTemplate: z
      .string()
      .max(10_000)
      .default('{"to":"{{to}}","text":"{{text}}"}')
      .describe("Request body; `{{to}}`, `{{text}}` and `{{code}}` are replaced (JSON-escaped)."),
    contentType: z.string().min(1).max(200).default("application/json").describe("Content-Type of the body."),
  })
  .superRefine((p, ctx) => {
    const host = safeHost(p.url);
    if (p.url.toLowerCase().startsWith("http://") && !(host && isLoopbackHost(host))) {
      issue(ctx, ["url"], "a gateway over plain http:// would carry codes in clear", "use an https:// URL");
    }
    for (const name of Object.keys(p.headers)) {
      if (/authorization|token|key|secret|password/i.test(name)) {
        issue(
          ctx,
          ["headers", name],
          "a credential header is written in clear in the configuration",
          `move it to headerFiles.${name} (a file with mode 0600)`,
        );
      }
    }
  });

const providerTwilio = z.strictObject({
  type: z.literal("twilio").describe("Twilio or a Twilio-compatible API."),
  accountSid: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, "must be AC followed by 32 hex digits")
    .describe("Account SID (`AC…`)."),
  authTokenFile: filePath.describe("File holding the auth token (mode 0600)."),
  from: z
    .string()
    .regex(
      /^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/,
      "must be an E.164 number (+…) or a messaging service SID (MG…)",
    )
    .describe("Sender: E.164 number or messaging service SID."),
  url: httpUrl
    .default("https://api.twilio.com")
    .describe("API base URL (change only for a compatible service)."),
});

function safeHost(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
}

function providerSchema(channel: "SMS" | "voice") {
  return z
    .discriminatedUnion("type", [providerNone, providerHttp, providerTwilio])
    .default({ type: "none" })
    .describe(`The ${channel} provider: \`none\`, \`http\` (generic gateway) or \`twilio\`.`);
}

const directorySchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "must be lower-case letters, digits and dashes")
      .describe("Stable id of the directory, referenced by users and agents."),
    url: z
      .string()
      .regex(/^ldaps?:\/\/[^\s/]+(:\d+)?\/?$/i, "must be ldaps://host[:port] or ldap://host[:port]")
      .describe(
        "Directory URL: `ldaps://dc1.corp.example:636`, or `ldap://…` together with `startTls: true`.",
      ),
    startTls: z
      .boolean()
      .default(false)
      .describe("Upgrade an ldap:// connection with StartTLS (required for ldap://)."),
    caFile: filePath
      .nullable()
      .default(null)
      .describe("PEM file of the CA that signed the directory's certificate."),
    bindDn: z.string().min(1).describe("DN (or UPN, for AD) of the service account."),
    bindPasswordFile: filePath.describe("File holding the service account's password (mode 0600)."),
    baseDn: z.string().min(1).describe("Where users are searched."),
    userFilter: z
      .string()
      .min(1)
      .default("(objectClass=person)")
      .describe("LDAP filter selecting user entries."),
    scopeGroups: z
      .array(z.string().min(1))
      .default([])
      .describe("DNs of groups whose members may use self-service (empty: every user found)."),
    adminGroups: z
      .array(z.string().min(1))
      .default([])
      .describe("DNs of groups whose members are administrators."),
  })
  .superRefine((d, ctx) => {
    for (const t of directoryTransportIssues(d.url, d.startTls)) issue(ctx, [t.field], t.problem, t.fix);
  });

const tenantSchema = z
  .strictObject({
    slug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lower-case letters, digits and dashes")
      .default("default")
      .describe("Short, URL-safe name of the first tenant."),
    name: z
      .string()
      .min(1)
      .max(200)
      .default("Example Organisation")
      .describe("Display name of the first tenant."),
    settings: tenantSettingsSchema.describe(
      "Initial tenant settings (methods, gates, password policy, throttles, branding…), validated by `config/tenant-settings.ts`. Used only when the tenant is created; later changes are made in the admin console.",
    ),
  })
  .prefault({})
  .describe("The first tenant, created when the store has none.");

export const configSchema = z
  .strictObject({
    server: serverSchema,
    database: databaseSchema,
    secrets: secretsSchema,
    demo: z
      .boolean()
      .default(false)
      .describe(
        "Demo mode: missing keys are generated for the run and the demo tenant is seeded. Never in production.",
      ),
    smtp: smtpSchema,
    sms: providerSchema("SMS"),
    voice: providerSchema("voice"),
    logging: z
      .strictObject({
        level: z
          .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
          .default("info")
          .describe("Log level. Secrets are redacted at every level."),
      })
      .prefault({})
      .describe("Logging (JSON lines on standard output)."),
    breached: z
      .strictObject({
        offlineFile: filePath
          .nullable()
          .default(null)
          .describe("Offline breached-password filter file; none when absent."),
      })
      .prefault({})
      .describe("Breached-password checking."),
    tenant: tenantSchema,
    directories: z
      .array(directorySchema)
      .max(50)
      .default([])
      .superRefine((dirs, ctx) => {
        const seen = new Set<string>();
        dirs.forEach((d, i) => {
          if (seen.has(d.id))
            issue(ctx, [i, "id"], `the id ${d.id} is used twice`, "give each directory its own id");
          seen.add(d.id);
        });
      })
      .describe("Directories (Active Directory, OpenLDAP) whose users Latchkey serves through an agent."),
  })
  .superRefine((c, ctx) => {
    const url = c.server.publicUrl;
    const host = url ? safeHost(url) : c.server.host;
    if (c.server.cookieSecure && url?.startsWith("http://") && host && !isLoopbackHost(host)) {
      issue(
        ctx,
        ["server", "publicUrl"],
        "a plain http:// public URL with Secure cookies: browsers would drop the cookies",
        "serve Latchkey over https:// (a TLS-terminating proxy) and set publicUrl to it",
      );
    }
  });

export type Config = z.infer<typeof configSchema>;
/** What a person may write: every field with a default is optional. */
export type ConfigInput = z.input<typeof configSchema>;
export type DirectoryConfig = Config["directories"][number];
export type ProviderConfig = Config["sms"];
export type SmtpConfig = NonNullable<Config["smtp"]>;
