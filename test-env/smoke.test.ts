// Smoke test of the environment itself: each real part answers, strict TLS works (and refuses an
// unknown CA), and the service accounts hold the rights the agent relies on.
import { Attribute, Change, Client } from "ldapts";
import nodemailer from "nodemailer";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  clearMail,
  createAdUser,
  createOpenLdapUser,
  createTestDatabase,
  getTestEnv,
  listMail,
  readMail,
  strictTls,
} from "./env.js";

const env = getTestEnv();
const clients: Client[] = [];

function client(url: string, tls = true): Client {
  const c = new Client({
    url,
    timeout: 20_000,
    connectTimeout: 5_000,
    ...(tls ? { tlsOptions: strictTls() } : {}),
  });
  clients.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
});

const replace = (type: string, value: string | Buffer) =>
  new Change({
    operation: "replace",
    modification: new Attribute({ type, values: typeof value === "string" ? [value] : [value] }),
  });
const quoted = (pw: string) => Buffer.from(`"${pw}"`, "utf16le");

async function firstEntry(c: Client, base: string, filter: string, attributes: string[]) {
  const { searchEntries } = await c.search(base, { scope: "sub", filter, attributes });
  return searchEntries[0];
}

describe("Samba AD DC", () => {
  it("binds over LDAPS with strict TLS as the service account and finds alice", async () => {
    const c = client(env.ad.url);
    await c.bind(env.ad.serviceDn, env.ad.servicePassword);
    const alice = await firstEntry(c, env.ad.baseDn, "(sAMAccountName=alice)", [
      "mail",
      "mobile",
      "memberOf",
    ]);
    expect(alice?.dn).toBe(env.ad.users.alice.dn);
    expect(alice?.mail).toBe(env.ad.users.alice.mail);
    expect(alice?.mobile).toBe(env.ad.users.alice.mobile);
    expect(alice?.memberOf).toBe(env.ad.scopeGroupDn);
  });

  it("also binds by UPN, and through StartTLS on 389", async () => {
    const c = client(env.ad.starttlsUrl, false);
    await c.startTLS(strictTls());
    await c.bind(env.ad.users.bob.userPrincipalName ?? "", env.ad.users.bob.password);
  });

  it("refuses the connection when the CA is not trusted", async () => {
    const c = client(env.ad.url, false);
    await expect(c.bind(env.ad.serviceDn, env.ad.servicePassword)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it("has the test password policy", async () => {
    const c = client(env.ad.url);
    await c.bind(env.ad.adminDn, env.ad.adminPassword);
    const { searchEntries } = await c.search(env.ad.baseDn, {
      scope: "base",
      attributes: ["minPwdLength", "pwdHistoryLength", "lockoutThreshold", "minPwdAge", "pwdProperties"],
    });
    expect(searchEntries[0]).toMatchObject({
      minPwdLength: "8",
      pwdHistoryLength: "5",
      lockoutThreshold: "3",
      minPwdAge: "0",
      pwdProperties: "1",
    });
  });

  it("lets the delegated service account reset, force must-change, unlock, and change with the old password", async () => {
    const u = await createAdUser();
    const c = client(env.ad.url);
    await c.bind(env.ad.serviceDn, env.ad.servicePassword);
    // Admin reset.
    await c.modify(u.dn, replace("unicodePwd", quoted("Reset-Pass-77!")));
    // Must change at next logon, and back.
    await c.modify(u.dn, replace("pwdLastSet", "0"));
    const state = await firstEntry(c, u.dn, "(objectClass=user)", [
      "msDS-User-Account-Control-Computed",
      "pwdLastSet",
    ]);
    expect(state?.["msDS-User-Account-Control-Computed"]).toBe("8388608");
    await c.modify(u.dn, replace("pwdLastSet", "-1"));
    // Unlock.
    await c.modify(u.dn, replace("lockoutTime", "0"));
    // Change on the service connection (old password checked, policy enforced).
    await c.modify(u.dn, [
      new Change({
        operation: "delete",
        modification: new Attribute({ type: "unicodePwd", values: [quoted("Reset-Pass-77!")] }),
      }),
      new Change({
        operation: "add",
        modification: new Attribute({ type: "unicodePwd", values: [quoted("Changed-Pass-88!")] }),
      }),
    ]);
    const asUser = client(env.ad.url);
    await asUser.bind(u.dn, "Changed-Pass-88!");
    await u.remove();
  });

  it("does not let the service account reset a user outside OU=People", async () => {
    const c = client(env.ad.url);
    await c.bind(env.ad.serviceDn, env.ad.servicePassword);
    await expect(c.modify(env.ad.adminDn, replace("unicodePwd", quoted("Nope-Nope-99!")))).rejects.toThrow(
      /INSUFF_ACCESS|insufficient/i,
    );
  });
});

describe("OpenLDAP slapd", () => {
  it("binds over ldaps:// with strict TLS as the service account and finds alice", async () => {
    const c = client(env.openldap.ldapsUrl);
    await c.bind(env.openldap.serviceDn, env.openldap.servicePassword);
    const alice = await firstEntry(c, env.openldap.baseDn, "(uid=alice)", [
      "mail",
      "mobile",
      "givenName",
      "memberOf",
    ]);
    expect(alice?.dn).toBe(env.openldap.users.alice.dn);
    expect(alice?.mail).toBe(env.openldap.users.alice.mail);
    expect(alice?.givenName).toBe("Alice");
    expect(alice?.memberOf).toBe(env.openldap.scopeGroupDn);
  });

  it("refuses the connection when the CA is not trusted", async () => {
    const c = client(env.openldap.ldapsUrl, false);
    await expect(c.bind(env.openldap.serviceDn, env.openldap.servicePassword)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it("lets users bind, and supports StartTLS on the ldap:// port", async () => {
    const c = client(env.openldap.url, false);
    await c.startTLS(strictTls());
    await c.bind(env.openldap.users.carol.dn, env.openldap.users.carol.password);
  });

  it("checks the plain-write agent's resets against the policy, but not the pw-admin's", async () => {
    const u = await createOpenLdapUser();
    const agent = client(env.openldap.ldapsUrl);
    await agent.bind(env.openldap.serviceDn, env.openldap.servicePassword);
    await expect(agent.modify(u.dn, replace("userPassword", "short"))).rejects.toThrow(/quality/i);
    await agent.modify(u.dn, replace("userPassword", "Agent-Reset-55!"));
    await agent.modify(u.dn, replace("pwdReset", "TRUE"));
    await agent.modify(u.dn, replace("pwdAccountLockedTime", "000001010000Z"));
    await agent.modify(
      u.dn,
      new Change({
        operation: "delete",
        modification: new Attribute({ type: "pwdAccountLockedTime", values: [] }),
      }),
    );
    const pwAdmin = client(env.openldap.ldapsUrl);
    await pwAdmin.bind(env.openldap.pwAdminDn, env.openldap.pwAdminPassword);
    await pwAdmin.modify(u.dn, replace("userPassword", "short"));
    await u.remove();
  });
});

describe("PostgreSQL", () => {
  it("answers select 1 in a fresh database", async () => {
    const db = await createTestDatabase();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ one: number }>("select 1 as one");
      expect(rows[0]?.one).toBe(1);
    } finally {
      await c.end();
    }
    await db.drop();
  });
});

describe("SMTP sink", () => {
  it("captures a message sent with nodemailer", async () => {
    const to = `smoke-${Date.now()}@example.test`;
    const since = Date.now();
    const transport = nodemailer.createTransport({ host: env.smtp.host, port: env.smtp.port, secure: false });
    await transport.sendMail({
      from: "Latchkey <no-reply@example.test>",
      to,
      subject: "Your code — ünïcödé",
      text: `Your code is 123456.\nA long line that nodemailer will have to wrap ${"x".repeat(120)}`,
      html: "<p>Your code is <b>123456</b>. Café</p>",
    });
    const mail = await readMail({ to, since });
    expect(mail.subject).toBe("Your code — ünïcödé");
    expect(mail.text).toContain("Your code is 123456.");
    expect(mail.text).toContain("x".repeat(120));
    expect(mail.html).toContain("<b>123456</b>. Café");
    expect(mail.from).toBe("no-reply@example.test");
    expect(mail.to).toEqual([to]);
    expect(clearMail({ to })).toBe(1);
    expect(listMail({ to })).toHaveLength(0);
  });

  it("decodes base64 text parts and lists attachments", async () => {
    const to = `b64-${Date.now()}@example.test`;
    const transport = nodemailer.createTransport({ host: env.smtp.host, port: env.smtp.port, secure: false });
    await transport.sendMail({
      from: "a@example.test",
      to: `Someone <${to.toUpperCase()}>`,
      subject: "plain subject",
      text: "Grüße, base64 body",
      textEncoding: "base64",
      attachments: [
        { filename: "report.pdf", content: Buffer.alloc(1000, 1), contentType: "application/pdf" },
      ],
    });
    const mail = await readMail({ to, subject: /plain/ });
    expect(mail.text).toBe("Grüße, base64 body");
    expect(mail.html).toBe("");
    expect(mail.attachments).toEqual([
      { filename: "report.pdf", contentType: "application/pdf", size: 1000 },
    ]);
  });

  it("accepts STARTTLS with the test CA and AUTH with any credentials", async () => {
    const to = `tls-${Date.now()}@example.test`;
    const transport = nodemailer.createTransport({
      host: env.smtp.host,
      port: env.smtp.starttlsPort,
      secure: false,
      requireTLS: true,
      tls: { ca: [env.caPem], servername: "localhost" },
      auth: { user: "mailer", pass: "whatever" },
    });
    await transport.sendMail({ from: "a@example.test", to, subject: "tls", text: "hi" });
    const mail = await readMail({ to });
    expect(mail.secure).toBe(true);
    expect(mail.authUser).toBe("mailer");
  });
});
