/**
 * The agent's configuration: where the server is, where the agent keeps its keys, and the
 * directories it writes to. One zod schema gives types, defaults and validation. Like the server,
 * the agent refuses plain LDAP: a directory is reached over ldaps://, or ldap:// upgraded with
 * StartTLS, always with certificate verification. Passwords come from files, never the YAML.
 */
import { isIP } from "node:net";
import { directoryTransportIssues } from "@latchkey/protocol";
import { z } from "zod";

function issue(ctx: z.RefinementCtx, path: (string | number)[], message: string, fix: string): void {
  ctx.addIssue({ code: "custom", message, path, params: { fix } });
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

const filePath = z.string().min(1).max(4096);

const attributeName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, "must be an LDAP attribute name")
  .describe("LDAP attribute name.");

/** Overrides of the attribute each synced field is read from (defaults depend on the dialect). */
export const attributeMappingSchema = z
  .strictObject({
    username: attributeName
      .optional()
      .describe("Account name. Default: sAMAccountName (AD), uid (OpenLDAP)."),
    upn: attributeName
      .nullable()
      .optional()
      .describe("User principal name; null for none. Default: userPrincipalName (AD), none (OpenLDAP)."),
    displayName: attributeName
      .optional()
      .describe("Display name. Default: displayName (OpenLDAP falls back to cn)."),
    givenName: attributeName.optional().describe("Given name. Default: givenName."),
    surname: attributeName.optional().describe("Surname. Default: sn."),
    mail: attributeName.optional().describe("Email address. Default: mail."),
    mobile: attributeName.optional().describe("Mobile number. Default: mobile."),
    telephoneNumber: attributeName.optional().describe("Office phone. Default: telephoneNumber."),
  })
  .prefault({})
  .describe("Where each synced field is read from; unset fields use the dialect's default.");

const dn = z.string().min(1).max(1024);

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
    bindPasswordFile: filePath
      .optional()
      .describe("File holding the service account's password (mode 0600). Either this or bindPasswordEnv."),
    bindPasswordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be an environment variable name")
      .optional()
      .describe("Name of an environment variable holding the service account's password."),
    baseDn: dn.describe("Where users are searched (subtree)."),
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
    userFilter: z
      .string()
      .min(3)
      .max(4096)
      .regex(/^\(.*\)$/s, "must be an LDAP filter in parentheses")
      .nullable()
      .default(null)
      .describe(
        "LDAP filter selecting the users to sync. Default: (&(objectCategory=person)(objectClass=user)) on AD, (objectClass=inetOrgPerson) on OpenLDAP.",
      ),
    scopeGroups: z
      .array(dn)
      .max(50)
      .default([])
      .describe(
        "DNs of the groups whose (nested) members are in scope for self-service. Empty: every synced user is in scope.",
      ),
    adminGroups: z
      .array(dn)
      .max(50)
      .default([])
      .describe("DNs of the groups whose (nested) members hold an admin role (stricter reset policy)."),
    nestedGroups: z
      .boolean()
      .default(true)
      .describe(
        "Follow nested groups (AD: LDAP_MATCHING_RULE_IN_CHAIN; OpenLDAP: groups that are members of groups).",
      ),
    groupFilter: z
      .string()
      .min(3)
      .max(1024)
      .regex(/^\(.*\)$/s, "must be an LDAP filter in parentheses")
      .nullable()
      .default(null)
      .describe(
        "LDAP filter of group entries. Default: (objectClass=group) on AD, (|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)) on OpenLDAP.",
      ),
    attributes: attributeMappingSchema,
    deletions: z
      .enum(["auto", "tombstones", "reconcile"])
      .default("auto")
      .describe(
        "How deletions are found. AD `auto`: tombstones when the service account can read CN=Deleted Objects, else reconciliation. OpenLDAP: always reconciliation (an anchors-only listing).",
      ),
    reconcileEvery: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .nullable()
      .default(null)
      .describe(
        "Run the anchors-only reconciliation every N incremental passes. Default: every pass when it is how deletions are found, else every 60 passes (catches users moved out of baseDn or out of the filter).",
      ),
    passwordPolicyDn: dn
      .nullable()
      .default(null)
      .describe(
        "OpenLDAP: DN of the default ppolicy entry, to compute password expiry from pwdMaxAge (users with pwdPolicySubentry use theirs). Default: no expiry reported unless the user names a policy.",
      ),
  })
  .superRefine((d, ctx) => {
    for (const t of directoryTransportIssues(d.url, d.startTls)) issue(ctx, [t.field], t.problem, t.fix);
    if ((d.bindPasswordFile === undefined) === (d.bindPasswordEnv === undefined)) {
      issue(
        ctx,
        ["bindPasswordFile"],
        d.bindPasswordFile === undefined ? "missing" : "both bindPasswordFile and bindPasswordEnv are set",
        "set exactly one of bindPasswordFile (a file with mode 0600) or bindPasswordEnv (a variable name)",
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
          const known = ["https:", "wss:", "http:", "ws:"].includes(parsed.protocol);
          if (!known)
            issue(ctx, [], "must be an https:// or wss:// URL", "give the server's public https:// URL");
        })
        .describe("The Latchkey server the agent dials out to (https://)."),
      caFile: filePath
        .nullable()
        .default(null)
        .describe("PEM file of the CA of the server's certificate (default: system CAs)."),
      allowInsecureLink: z
        .boolean()
        .default(false)
        .describe(
          "Allow a plain ws:// link to a host that is not loopback (tests, labs). Never in production.",
        ),
    })
    .superRefine((server, ctx) => {
      let parsed: URL;
      try {
        parsed = new URL(server.url);
      } catch {
        return;
      }
      const plain = parsed.protocol === "http:" || parsed.protocol === "ws:";
      if (plain && !isLoopback(parsed.hostname) && !server.allowInsecureLink)
        issue(
          ctx,
          ["url"],
          "a plain http:// link would carry sealed operations without TLS",
          "use the https:// URL (or, in a lab only, set server.allowInsecureLink / --allow-insecure-link)",
        );
    })
    .describe("The Latchkey server."),
  keyFile: filePath
    .default("./latchkey-agent.key")
    .describe("Where the agent keeps its private keys (written by `enroll`, mode 0600)."),
  stateFile: filePath
    .nullable()
    .default(null)
    .describe(
      "Where the sync cursors are kept (mode 0600). Default: next to the key file, `<key file without .key>.state.json`.",
    ),
  sync: z
    .strictObject({
      intervalSeconds: z
        .number()
        .int()
        .min(5)
        .max(86_400)
        .default(60)
        .describe("Seconds between incremental sync passes."),
      pageSize: z.number().int().min(10).max(5000).default(500).describe("LDAP page size of searches."),
      batchSize: z.number().int().min(1).max(1000).default(500).describe("Users per sync.batch message."),
      window: z
        .number()
        .int()
        .min(1)
        .max(16)
        .default(4)
        .describe("Batches sent before waiting for the oldest sync.ack."),
      ackTimeoutMs: z
        .number()
        .int()
        .min(1000)
        .max(600_000)
        .default(60_000)
        .describe("How long to wait for the server's sync.ack of a batch before the pass fails."),
      overlapSeconds: z
        .number()
        .int()
        .min(0)
        .max(3600)
        .default(5)
        .describe(
          "OpenLDAP: the modifyTimestamp window re-read before the high-water mark (entries committed out of order).",
        ),
    })
    .prefault({})
    .describe("Directory sync."),
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
