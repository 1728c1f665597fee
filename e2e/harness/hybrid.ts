/**
 * The setup the hybrid-reset e2e files share: a server with the directory link, a fresh directory
 * user, the real `latchkey-agent` enrolled and running against that directory, the user synced and
 * an agent online for them, and a confirmed email plus an authenticator app registered for them.
 * SMS and voice go to a local gateway speaking the generic HTTP provider protocol (the same body
 * template as e2e/harness/portal.ts), so a test can read the code a phone would have received.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret, TOTP } from "otpauth";
import { expect } from "vitest";
import { type LinkServer, startLinkServer } from "../../packages/server/src/directory-link/testing/server.js";
import { t } from "../../packages/server/src/i18n/index.js";
import { registerEmail } from "../../packages/server/src/methods/email-code/index.js";
import { generateTotpSecret, registerTotp } from "../../packages/server/src/methods/totp/index.js";
import { type RecordedRequest, recordingServer } from "../../packages/server/src/notify/testing/servers.js";
import type { User } from "../../packages/server/src/store/schema.js";
import type { CaptchaChallenge } from "../../packages/server/src/web/altcha.js";
import { CAPTCHA_FIELD } from "../../packages/server/src/web/components.js";
import {
  type CreatedUser,
  createAdUser,
  createOpenLdapUser,
  getTestEnv,
  readMail,
} from "../../test-env/env.js";
import { type agentSpawner, type Cleanup, until } from "./agent-process.js";
import { csrfOf, HttpClient, type HttpResult, solveCaptchaChallengeFast } from "./client.js";
import type { PhoneMessage } from "./portal.js";

export interface HybridDialect {
  name: "ad" | "openldap";
  id: string;
  /** The directory's lines in the agent's YAML configuration. */
  yaml: string[];
  password: string;
  /** Where to bind as the person over LDAPS. */
  ldapsUrl: string;
  create(): Promise<CreatedUser>;
}

export function hybridDialects(): HybridDialect[] {
  const env = getTestEnv();
  return [
    {
      name: "openldap",
      id: "corp-ol",
      yaml: [
        `    url: ${env.openldap.url}`,
        "    startTls: true",
        `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
        `    baseDn: ${JSON.stringify(env.openldap.usersDn)}`,
        "    scopeGroups:",
        `      - ${JSON.stringify(env.openldap.scopeGroupDn)}`,
      ],
      password: env.openldap.servicePassword,
      ldapsUrl: env.openldap.ldapsUrl,
      create: () => createOpenLdapUser(),
    },
    {
      name: "ad",
      id: "corp-ad",
      yaml: [
        `    url: ${env.ad.url}`,
        `    bindDn: ${JSON.stringify(env.ad.serviceDn)}`,
        `    baseDn: ${JSON.stringify(env.ad.usersDn)}`,
        "    scopeGroups:",
        `      - ${JSON.stringify(env.ad.scopeGroupDn)}`,
      ],
      password: env.ad.servicePassword,
      ldapsUrl: env.ad.url,
      create: () => createAdUser(),
    },
  ];
}

/** The local SMS/voice gateway of a hybrid server. */
export interface HybridPhone {
  /** What the gateway received, oldest first. */
  messages(): PhoneMessage[];
  /** Waits for the first message to `to` received at or after `since` (epoch ms). */
  waitFor(query: {
    to: string;
    since: number;
    channel?: "sms" | "voice";
    timeoutMs?: number;
  }): Promise<PhoneMessage>;
}

const PHONE_BODY = '{"to":"{{to}}","text":"{{text}}","code":"{{code}}"}';

/** Starts the gateway (closed by `cleanup`) and gives the provider settings pointing at it. */
async function startPhoneGateway(cleanup: Cleanup): Promise<{
  phone: HybridPhone;
  sms: Record<string, unknown>;
  voice: Record<string, unknown>;
}> {
  // When each request arrived, noted as it arrives (a test asks for messages since a moment).
  const arrivals = new Map<RecordedRequest, number>();
  const gateway = await recordingServer((req, res) => {
    arrivals.set(req, Date.now());
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  cleanup.push(() => gateway.close());
  const messages = (): PhoneMessage[] =>
    gateway.requests.map((r) => {
      let body: { to?: string; text?: string; code?: string } = {};
      try {
        body = JSON.parse(r.body) as typeof body;
      } catch {
        // Not our template: kept with empty fields so the count still shows it.
      }
      return {
        channel: r.url.startsWith("/voice") ? "voice" : "sms",
        to: body.to ?? "",
        text: body.text ?? "",
        code: body.code ?? "",
        receivedAt: arrivals.get(r) ?? 0,
      };
    });
  return {
    phone: {
      messages,
      async waitFor(q) {
        const deadline = Date.now() + (q.timeoutMs ?? 10_000);
        for (;;) {
          const found = messages().find(
            (m) =>
              m.to === q.to &&
              m.receivedAt >= q.since &&
              (q.channel === undefined || m.channel === q.channel),
          );
          if (found) return found;
          if (Date.now() > deadline)
            throw new Error(
              `no ${q.channel ?? "phone"} message to ${q.to} since ${new Date(q.since).toISOString()}`,
            );
          await new Promise((r) => setTimeout(r, 25));
        }
      },
    },
    sms: { type: "http", url: `${gateway.url}/sms`, bodyTemplate: PHONE_BODY },
    voice: { type: "http", url: `${gateway.url}/voice`, bodyTemplate: PHONE_BODY },
  };
}

export interface HybridSetup {
  server: LinkServer;
  /** The SMS/voice gateway the server sends to. */
  phone: HybridPhone;
  person: CreatedUser;
  user: User;
  totpSecret: string;
  agent: ReturnType<ReturnType<typeof agentSpawner>>;
}

export async function startHybrid(
  d: HybridDialect,
  cleanup: Cleanup,
  spawnAgent: ReturnType<typeof agentSpawner>,
): Promise<HybridSetup> {
  const env = getTestEnv();
  const gateway = await startPhoneGateway(cleanup);
  const server = await startLinkServer({
    directories: [d.id],
    smtpPort: env.smtp.port,
    sms: gateway.sms,
    voice: gateway.voice,
    outboxPollMs: 50,
    settings: {
      reset: { disclosure: "guided", scope: "all", gates: 2, methods: ["email", "totp"] },
      throttles: { perIpPerMinute: 1000 },
    },
  });
  cleanup.push(() => server.close());
  const person = await d.create();
  cleanup.push(() => person.remove().catch(() => {}));

  const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-writeback-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "bind.pw"), d.password);
  chmodSync(join(dir, "bind.pw"), 0o600);
  writeFileSync(
    join(dir, "latchkey-agent.yaml"),
    [
      "server:",
      `  url: ${server.baseUrl}`,
      "keyFile: agent.key",
      "sync:",
      "  intervalSeconds: 30",
      "directories:",
      `  - id: ${d.id}`,
      `    caFile: ${env.caFile}`,
      "    bindPasswordFile: bind.pw",
      ...d.yaml,
      "",
    ].join("\n"),
  );
  const token = await server.token({ directoryId: d.id });
  const enrolled = spawnAgent(dir, ["enroll", "--server", server.baseUrl, "--token", token, "--name", "e2e"]);
  expect(await enrolled.exited, enrolled.out.stderr).toBe(0);
  const agent = spawnAgent(dir, ["run"]);

  const user = await until<User>(
    "the person synced",
    async () =>
      server.store.db
        .selectFrom("users")
        .selectAll()
        .where("username", "=", person.username.toLowerCase())
        .where("directory_id", "=", d.id)
        .executeTakeFirst(),
    30_000,
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}\nagent stderr: ${agent.out.stderr}\nagent log: ${agent.out.stdout.slice(-3000)}`,
    );
  });
  await until("the agent online", async () => server.features.portal.writeback?.canServe(user), 10_000);

  // The person confirmed their directory email and registered an authenticator app.
  const address = user.email ?? "";
  expect(address).not.toBe("");
  await registerEmail(server.store.db, {
    tenantId: server.tenant.id,
    userId: user.id,
    address,
    confirmed: true,
    clock: server.clock,
  });
  const totpSecret = generateTotpSecret();
  await registerTotp(server.store.db, server.secrets, {
    tenantId: server.tenant.id,
    userId: user.id,
    issuer: "Link Test",
    accountName: person.username,
    secretBase32: totpSecret,
    confirmed: true,
  });
  return { server, phone: gateway.phone, person, user, totpSecret, agent };
}

/**
 * Walks the reset pages over HTTP as a person with an email address and an authenticator app:
 * identify (captcha solved as the widget does), the email code read from the SMTP sink, then the
 * TOTP code. Returns the client and the new-password page it reached.
 */
export async function resetToNewPassword(
  baseUrl: string,
  who: { username: string; email: string; totpSecret: string },
): Promise<{ client: HttpClient; page: HttpResult }> {
  const c = new HttpClient(baseUrl);
  const first = await c.get("/reset");
  const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
  const choose = await c.submit("/reset/identify", {
    _csrf: csrfOf(first.text),
    username: who.username,
    [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
  });
  expect(choose.text).not.toContain(t("en", "reset.ineligible.title"));
  const since = Date.now();
  const emailPage = await c.submit("/reset/challenge", { _csrf: csrfOf(choose.text), method: "email" });
  const mail = await readMail({ to: who.email, since, subject: "verification code" });
  const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
  const second = await c.submit("/reset/verify", { _csrf: csrfOf(emailPage.text), code });
  const totpPage = await c.submit("/reset/challenge", { _csrf: csrfOf(second.text), method: "totp" });
  const totp = TOTP.generate({
    secret: Secret.fromBase32(who.totpSecret),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
  });
  const page = await c.submit("/reset/verify", { _csrf: csrfOf(totpPage.text), code: totp });
  return { client: c, page };
}
