/**
 * Password operations on one configured directory, the way each dialect wants them.
 *
 * One service connection per directory (strict TLS: ldaps:// or StartTLS, as connectDirectory makes
 * it), kept open between operations and made again when it drops; the RootDSE read at connect
 * decides the dialect and whether AD's policy-hints control is offered. A bind as the person
 * (verify-password) always uses a fresh connection of its own.
 *
 * Every operation re-resolves the user by anchor (objectGUID / entryUUID) under the configured baseDn:
 * the DN the server sends is only a hint, and an anchor outside baseDn is "no such object".
 *
 * Active Directory: reset = replace unicodePwd (quoted UTF-16LE), with policy hints where the DC
 * offers them (Samba does not), plus lockoutTime 0 (unlock) and pwdLastSet 0 (must change) in the
 * same modify; change = one modify deleting the old and adding the new value on the service
 * connection (it checks the old password and works for users who cannot bind: 773, 532); unlock =
 * lockoutTime 0; verify = a simple bind as the user.
 * OpenLDAP: reset and change = the Password Modify extended operation (RFC 3062) with the ppolicy
 * control; then pwdReset (must change; written by us because a plain-write account's reset does
 * not set it) and the lockout attributes; unlock = delete pwdAccountLockedTime (and pwdFailureTime);
 * verify = a bind as the user with the ppolicy control.
 */
import {
  AndFilter,
  Attribute,
  type BerWriter,
  Change,
  Client,
  Control,
  type Entry,
  EqualityFilter,
  FilterParser,
} from "ldapts";
import type { AgentDirectoryConfig } from "../config/schema.js";
import { AD_DEFAULT_USER_FILTER, uuidToGuid } from "../directory/ad/mapping.js";
import { connectDirectory } from "../directory/connect.js";
import { OPENLDAP_DEFAULT_USER_FILTER } from "../directory/openldap/mapping.js";
import { OID, type RootDse, readRootDse, strictTlsOptions } from "../directory/rootdse.js";
import { first } from "../directory/values.js";
import { PASSWORD_MODIFY_OID, PpolicyControl, passwordModifyValue } from "./ber.js";
import { codeForPpolicy, type ErrorPhase, type MappedError, mapDirectoryError, outcomeOf } from "./errors.js";

/** What one operation did (the op.result fields other than opId and fromCache). */
export interface OperationOutcome {
  outcome: "applied" | "refused" | "failed";
  applied: boolean;
  code: MappedError["code"] | null;
  diagnostic: string | null;
  /** Measured by the operator (run): the anchor lookup and the directory write, in ms. */
  timings?: { openMs?: number; lookupMs: number; directoryMs: number };
}

export const ok = (applied: boolean, diagnostic: string | null = null): OperationOutcome => ({
  outcome: "applied",
  applied,
  code: null,
  diagnostic,
});

export function failure(m: MappedError, applied = false): OperationOutcome {
  return { outcome: m.outcome, applied, code: m.code, diagnostic: m.diagnostic || null };
}

/** An error with the phase and ppolicy error it came with, for mapDirectoryError. */
class StepError extends Error {
  constructor(
    readonly inner: unknown,
    readonly phase: ErrorPhase,
    readonly ppolicyError: number | null = null,
  ) {
    super("directory step failed");
  }
}

/** The policy-hints control (value SEQUENCE { INTEGER 1 }): AD then applies history and age to a reset. */
class PolicyHintsControl extends Control {
  protected override writeControl(writer: BerWriter): void {
    writer.writeBuffer(Buffer.from("3003020101", "hex"), 0x04);
  }
}

function quotedUtf16(password: string): Buffer {
  return Buffer.from(`"${password}"`, "utf16le");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ResolvedUser {
  dn: string;
  entry: Entry;
}

export interface DirectoryOperatorOptions {
  directory: AgentDirectoryConfig;
  /** The service account's password. */
  password: string;
  /** Inline CA PEM (tests); else directory.caFile. */
  caPem?: string;
}

export class DirectoryOperator {
  private client: Client | null = null;
  private dse: RootDse | null = null;
  private connecting: Promise<{ client: Client; dse: RootDse }> | null = null;

  constructor(private readonly opts: DirectoryOperatorOptions) {}

  get id(): string {
    return this.opts.directory.id;
  }

  /** The dialect, once a connection told it (else the configured one, or null for auto). */
  get dialect(): "ad" | "openldap" | null {
    if (this.dse?.dialect === "ad" || this.dse?.dialect === "openldap") return this.dse.dialect;
    const d = this.opts.directory.dialect;
    return d === "auto" ? null : d;
  }

  private target(bindDn: string, password: string) {
    const d = this.opts.directory;
    return {
      url: d.url,
      startTls: d.startTls,
      caFile: d.caFile,
      ...(this.opts.caPem ? { caPem: this.opts.caPem } : {}),
      bindDn,
      password,
      timeoutMs: d.timeoutMs,
    };
  }

  /** The service connection, connected and bound (made again when it dropped). */
  async service(): Promise<{ client: Client; dse: RootDse }> {
    if (this.client?.isConnected && this.dse) return { client: this.client, dse: this.dse };
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      this.drop();
      const client = await connectDirectory(this.target(this.opts.directory.bindDn, this.opts.password));
      try {
        const dse = await readRootDse(client);
        const d = this.opts.directory;
        if (dse.dialect === "unsupported" || (d.dialect !== "auto" && d.dialect !== dse.dialect))
          throw new Error(`directory ${d.id}: the RootDSE says ${dse.dialect}, not a supported dialect`);
        this.client = client;
        this.dse = dse;
        return { client, dse };
      } catch (e) {
        await client.unbind().catch(() => {});
        throw e;
      }
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Forgets the service connection (after a network error: the next operation reconnects). */
  drop(): void {
    const c = this.client;
    this.client = null;
    if (c) void c.unbind().catch(() => {});
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.unbind().catch(() => {});
  }

  // ——— resolution ———

  private async resolve(client: Client, dse: RootDse, anchor: string): Promise<ResolvedUser | null> {
    if (!UUID.test(anchor)) return null;
    const d = this.opts.directory;
    const ad = dse.dialect === "ad";
    // The configured user filter too (as sync reads users): an anchor of anything else (a computer
    // account, a group) is not a user this agent will touch.
    const userFilter = FilterParser.parseString(
      d.userFilter ?? (ad ? AD_DEFAULT_USER_FILTER : OPENLDAP_DEFAULT_USER_FILTER),
    );
    // Built as filter objects: ldapts's string parser turns \xx escapes above 0x7f into UTF-8.
    const filter = new AndFilter({
      filters: [
        userFilter,
        ad
          ? new EqualityFilter({ attribute: "objectGUID", value: uuidToGuid(anchor) })
          : new EqualityFilter({ attribute: "entryUUID", value: anchor.toLowerCase() }),
      ],
    });
    const attributes = ad
      ? ["lockoutTime", "pwdLastSet", "userAccountControl"]
      : ["pwdAccountLockedTime", "pwdFailureTime", "pwdReset"];
    const { searchEntries } = await client.search(d.baseDn, {
      scope: "sub",
      filter,
      attributes,
      sizeLimit: 2,
    });
    if (searchEntries.length !== 1) return null;
    const entry = searchEntries[0] as Entry;
    return { dn: entry.dn, entry };
  }

  /**
   * Runs one operation: connect (or reuse), resolve the anchor, then `apply` with the user's DN.
   * A network error drops the service connection; errors are mapped to codes, never thrown.
   */
  async run(
    anchor: string,
    secrets: readonly string[],
    apply: (ctx: { client: Client; dse: RootDse; user: ResolvedUser }) => Promise<OperationOutcome>,
  ): Promise<OperationOutcome> {
    // Durations for the per-flow timeline (op.result timings): connecting counts toward the lookup.
    const t0 = performance.now();
    let t1 = t0;
    const timed = (o: OperationOutcome): OperationOutcome => {
      const t2 = performance.now();
      const lookupEnd = t1 === t0 ? t2 : t1;
      return { ...o, timings: { lookupMs: round(lookupEnd - t0), directoryMs: round(t2 - lookupEnd) } };
    };
    return timed(
      await this.runSteps(anchor, secrets, apply, () => {
        t1 = performance.now();
      }),
    );
  }

  private async runSteps(
    anchor: string,
    secrets: readonly string[],
    apply: (ctx: { client: Client; dse: RootDse; user: ResolvedUser }) => Promise<OperationOutcome>,
    resolved: () => void,
  ): Promise<OperationOutcome> {
    let step: "service" | "resolve" | "apply" = "service";
    try {
      const { client, dse } = await this.service();
      step = "resolve";
      let user: ResolvedUser | null;
      try {
        user = await this.resolve(client, dse, anchor);
      } catch (e) {
        // A search is safe to repeat: once more on a fresh connection if this one broke.
        if (typeof (e as { code?: unknown }).code === "number") throw e;
        this.drop();
        const again = await this.service();
        user = await this.resolve(again.client, again.dse, anchor);
      }
      if (!user)
        return failure({
          code: "NO_SUCH_OBJECT",
          outcome: "refused",
          diagnostic: `no user with anchor ${anchor} under ${this.opts.directory.baseDn}`,
        });
      step = "apply";
      resolved();
      return await apply({ client: this.client ?? client, dse: this.dse ?? dse, user });
    } catch (e) {
      const cause = e instanceof StepError ? e.inner : e;
      const phase: ErrorPhase =
        e instanceof StepError ? e.phase : step === "service" ? "service" : "operation";
      if (typeof (cause as { code?: unknown }).code !== "number") this.drop();
      const m = mapDirectoryError({
        error: cause,
        phase,
        ppolicyError: e instanceof StepError ? e.ppolicyError : null,
        secrets,
      });
      // A write that timed out or lost its connection may or may not have been applied.
      if (step === "apply" && (m.code === "DIRECTORY_TIMEOUT" || m.code === "DIRECTORY_UNREACHABLE"))
        m.diagnostic = `${m.diagnostic} (the write may or may not have been applied)`.slice(0, 300);
      return failure(m);
    }
  }

  // ——— operations ———

  reset(anchor: string, newPassword: string, options: { unlock: boolean; mustChange: boolean }) {
    return this.run(anchor, [newPassword], async ({ client, dse, user }) => {
      if (dse.dialect === "ad") {
        const value = quotedUtf16(newPassword);
        const changes = [
          new Change({
            operation: "replace",
            modification: new Attribute({ type: "unicodePwd", values: [value] }),
          }),
        ];
        if (options.unlock)
          changes.push(
            new Change({
              operation: "replace",
              modification: new Attribute({ type: "lockoutTime", values: ["0"] }),
            }),
          );
        if (options.mustChange)
          changes.push(
            new Change({
              operation: "replace",
              modification: new Attribute({ type: "pwdLastSet", values: ["0"] }),
            }),
          );
        const controls = dse.supportedControl.includes(OID.POLICY_HINTS)
          ? [new PolicyHintsControl(OID.POLICY_HINTS, { critical: false })]
          : dse.supportedControl.includes(OID.POLICY_HINTS_DEPRECATED)
            ? [new PolicyHintsControl(OID.POLICY_HINTS_DEPRECATED, { critical: false })]
            : [];
        try {
          await client.modify(user.dn, changes, controls);
        } finally {
          value.fill(0);
        }
        return ok(true);
      }
      await passwordModify(client, user.dn, null, newPassword);
      return this.afterOpenLdapSet(client, user, {
        pwdReset: options.mustChange ? "set" : "clear",
        unlock: options.unlock,
        secrets: [newPassword],
      });
    });
  }

  change(anchor: string, oldPassword: string, newPassword: string) {
    return this.run(anchor, [oldPassword, newPassword], async ({ client, dse, user }) => {
      if (dse.dialect === "ad") {
        const oldValue = quotedUtf16(oldPassword);
        const newValue = quotedUtf16(newPassword);
        try {
          await client.modify(user.dn, [
            new Change({
              operation: "delete",
              modification: new Attribute({ type: "unicodePwd", values: [oldValue] }),
            }),
            new Change({
              operation: "add",
              modification: new Attribute({ type: "unicodePwd", values: [newValue] }),
            }),
          ]);
        } finally {
          oldValue.fill(0);
          newValue.fill(0);
        }
        return ok(true);
      }
      await passwordModify(client, user.dn, oldPassword, newPassword);
      // The person proved the old password and chose the new one: as a self-change, it clears pwdReset.
      return this.afterOpenLdapSet(client, user, {
        pwdReset: "clear",
        unlock: false,
        secrets: [oldPassword, newPassword],
      });
    });
  }

  unlock(anchor: string) {
    return this.run(anchor, [], async ({ client, dse, user }) => {
      if (dse.dialect === "ad") {
        const t = first(user.entry, "lockoutTime");
        if (t === null || t === "0") return ok(false, "the account was not locked");
        await client.modify(
          user.dn,
          new Change({
            operation: "replace",
            modification: new Attribute({ type: "lockoutTime", values: ["0"] }),
          }),
        );
        return ok(true);
      }
      const changes = lockoutDeletes(user.entry);
      if (changes.length === 0) return ok(false, "the account was not locked");
      await client.modify(user.dn, changes);
      return ok(first(user.entry, "pwdAccountLockedTime") !== null);
    });
  }

  verifyPassword(anchor: string, password: string) {
    return this.run(anchor, [password], async ({ dse, user }) => {
      if (password === "")
        // An empty password would be an anonymous bind (and counts as a failure on Samba).
        return failure({
          code: "INVALID_CREDENTIALS",
          outcome: "refused",
          diagnostic: "empty password refused before binding",
        });
      return dse.dialect === "ad"
        ? this.bindAsUserAd(user.dn, password)
        : this.bindAsUserOpenLdap(user.dn, password);
    });
  }

  private async bindAsUserAd(dn: string, password: string): Promise<OperationOutcome> {
    let client: Client;
    try {
      client = await connectDirectory(this.target(dn, password));
    } catch (e) {
      throw new StepError(e, "user-bind");
    }
    await client.unbind().catch(() => {});
    return ok(false);
  }

  private async bindAsUserOpenLdap(dn: string, password: string): Promise<OperationOutcome> {
    const d = this.opts.directory;
    const plain = d.url.toLowerCase().startsWith("ldap://");
    if (plain && !d.startTls) throw new Error("refusing plain ldap:// without StartTLS");
    const tlsOptions = strictTlsOptions({
      url: d.url,
      caFile: d.caFile,
      ...(this.opts.caPem ? { caPem: this.opts.caPem } : {}),
    });
    const client = new Client({
      url: d.url,
      timeout: d.timeoutMs,
      connectTimeout: d.timeoutMs,
      ...(plain ? {} : { tlsOptions }),
    });
    const control = new PpolicyControl();
    try {
      if (plain) await client.startTLS(tlsOptions);
      try {
        await client.bind(dn, password, control);
      } catch (e) {
        throw new StepError(e, "user-bind", control.response?.error ?? null);
      }
      const pp = control.response?.error ?? null;
      if (pp !== null) {
        // The password is right, but the account may not be used as it is (changeAfterReset…).
        const code = codeForPpolicy(pp);
        return failure({
          code,
          outcome: outcomeOf(code),
          diagnostic: `bind succeeded with ppolicy error ${pp}`,
        });
      }
      return ok(false);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  /** After an OpenLDAP password set: pwdReset and (on reset with unlock) the lockout state, in one modify. */
  private async afterOpenLdapSet(
    client: Client,
    user: ResolvedUser,
    opts: { pwdReset: "set" | "clear"; unlock: boolean; secrets: string[] },
  ): Promise<OperationOutcome> {
    const changes: Change[] = [];
    const hasReset = (first(user.entry, "pwdReset") ?? "").toUpperCase() === "TRUE";
    if (opts.pwdReset === "set")
      changes.push(
        new Change({
          operation: "replace",
          modification: new Attribute({ type: "pwdReset", values: ["TRUE"] }),
        }),
      );
    else if (hasReset)
      changes.push(
        new Change({ operation: "replace", modification: new Attribute({ type: "pwdReset", values: [] }) }),
      );
    if (opts.unlock) changes.push(...lockoutDeletes(user.entry));
    if (changes.length === 0) return ok(true);
    try {
      await client.modify(user.dn, changes);
      return ok(true);
    } catch (e) {
      const m = mapDirectoryError({ error: e, phase: "operation", secrets: opts.secrets });
      m.diagnostic =
        `the password was set, but writing pwdReset / the lockout state failed: ${m.diagnostic}`.slice(
          0,
          300,
        );
      if (typeof (e as { code?: unknown }).code !== "number") this.drop();
      return failure(m, true);
    }
  }
}

/** Milliseconds to 0.01 ms: the timeline needs no more, and the wire stays short. */
export function round(ms: number): number {
  return Math.max(0, Math.round(ms * 100) / 100);
}

/** Removes the lockout state (a replace with no values: no error when slapd already removed it). */
function lockoutDeletes(entry: Entry): Change[] {
  const out: Change[] = [];
  for (const type of ["pwdAccountLockedTime", "pwdFailureTime"])
    if (first(entry, type) !== null)
      out.push(new Change({ operation: "replace", modification: new Attribute({ type, values: [] }) }));
  return out;
}

/** The RFC 3062 extended operation with the ppolicy control; a refusal is thrown with its ppolicy error. */
async function passwordModify(client: Client, dn: string, oldPassword: string | null, newPassword: string) {
  const oldBuf = oldPassword === null ? null : Buffer.from(oldPassword, "utf8");
  const newBuf = Buffer.from(newPassword, "utf8");
  const value = passwordModifyValue(dn, oldBuf, newBuf);
  oldBuf?.fill(0);
  newBuf.fill(0);
  const control = new PpolicyControl();
  try {
    await client.exop(PASSWORD_MODIFY_OID, value, control);
  } catch (e) {
    throw new StepError(e, "operation", control.response?.error ?? null);
  } finally {
    value.fill(0);
  }
}
