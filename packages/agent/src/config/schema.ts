/**
 * The agent's configuration: where the server is, where the agent keeps its keys, and the
 * directories it writes to. One zod schema gives types, defaults and validation. Like the server,
 * the agent refuses plain LDAP: a directory is reached over ldaps://, or ldap:// upgraded with
 * StartTLS, always with certificate verification. Passwords come from files, never the YAML.
 */
import { isIP } from "node:net";
import { z } from "zod";

function issue(ctx: z.RefinementCtx, path: (string | number)[], message: string, fix: string): void {
  ctx.addIssue({ code: "custom", message, path, params: { fix } });
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

const filePath = z.string().min(1).max(4096);

export const agentDirectorySchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "must be lower-case letters, digits and dashes")
      .describe("Stable id of the directory; the same id as in the server's configuration."),
    url: z
      .string()
      .regex(/^ldaps?:\/\/[^\s/]+(:\d+)?\/?$/i, "must be ldaps://host[:port] or ldap://host[:port]")
      .describe("Directory URL: ldaps://dc1.corp.example:636, or ldap://… with startTls: true."),
    startTls: z
      .boolean()
      .default(false)
      .describe("Upgrade an ldap:// connection with StartTLS (required for ldap://)."),
    caFile: filePath
      .nullable()
      .default(null)
      .describe("PEM file of the CA that signed the directory's certificate (default: the system's CAs)."),
    bindDn: z.string().min(1).describe("DN (or UPN, for AD) of the agent's service account."),
    bindPasswordFile: filePath.describe("File holding the service account's password (mode 0600)."),
    baseDn: z.string().min(1).describe("Where users are searched."),
    dialect: z
      .enum(["auto", "ad", "openldap"])
      .default("auto")
      .describe("Directory dialect; `auto` reads it from the RootDSE."),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(10_000)
      .describe("Timeout of each LDAP operation."),
  })
  .superRefine((d, ctx) => {
    const plain = d.url.toLowerCase().startsWith("ldap://");
    if (plain && !d.startTls) {
      issue(
        ctx,
        ["url"],
        "plain ldap:// without StartTLS would send passwords in clear",
        "use ldaps:// or set startTls: true",
      );
    }
    if (!plain && d.startTls) {
      issue(
        ctx,
        ["startTls"],
        "StartTLS cannot be used on an ldaps:// connection",
        "remove startTls or use ldap://",
      );
    }
  });

export const agentConfigSchema = z.strictObject({
  server: z
    .strictObject({
      url: z
        .string()
        .url()
        .superRefine((u, ctx) => {
          let parsed: URL;
          try {
            parsed = new URL(u);
          } catch {
            return;
          }
          const secure = parsed.protocol === "https:" || parsed.protocol === "wss:";
          const plain = parsed.protocol === "http:" || parsed.protocol === "ws:";
          if (!secure && !plain) {
            issue(ctx, [], "must be an https:// or wss:// URL", "give the server's public https:// URL");
          } else if (plain && !isLoopback(parsed.hostname)) {
            issue(
              ctx,
              [],
              "a plain http:// link would carry sealed operations without TLS",
              "use the https:// URL",
            );
          }
        })
        .describe("The Latchkey server the agent dials out to (https://)."),
      caFile: filePath
        .nullable()
        .default(null)
        .describe("PEM file of the CA of the server's certificate (default: system CAs)."),
    })
    .describe("The Latchkey server."),
  keyFile: filePath
    .default("./latchkey-agent.key")
    .describe("Where the agent keeps its private keys (written by `enroll`, mode 0600)."),
  logging: z
    .strictObject({
      level: z
        .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info")
        .describe("Log level."),
    })
    .prefault({})
    .describe("Logging."),
  directories: z
    .array(agentDirectorySchema)
    .min(1, "at least one directory is needed")
    .max(20)
    .superRefine((dirs, ctx) => {
      const seen = new Set<string>();
      dirs.forEach((d, i) => {
        if (seen.has(d.id))
          issue(ctx, [i, "id"], `the id ${d.id} is used twice`, "give each directory its own id");
        seen.add(d.id);
      });
    })
    .describe("The directories this agent writes to."),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentDirectoryConfig = AgentConfig["directories"][number];
