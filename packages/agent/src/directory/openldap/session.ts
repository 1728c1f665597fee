/**
 * OpenLDAP (RFC 3062 + ppolicy), read for sync.
 *
 * - Users: a paged subtree search of baseDn with the user filter.
 * - Changes: modifyTimestamp at or after (cursor − overlapSeconds), where the cursor is the newest
 *   modifyTimestamp seen; the overlap catches writes committed out of order within a few seconds, and
 *   the engine skips entries whose entryCSN it already sent.
 * - Membership: read from the groups themselves (member / uniqueMember), following groups nested in
 *   groups. This works with or without the memberOf overlay, and a membership change shows as a change
 *   of the group's modifyTimestamp. Member keys are normalized DNs.
 * - Deletions: OpenLDAP keeps no tombstones; the engine reconciles (an anchors-only listing).
 */
import type { Client, Entry } from "ldapts";
import { escapeFilterValue, isUnder, namingContextOf, normalizeDn } from "../dn.js";
import type { RootDse } from "../rootdse.js";
import type { SessionConfig } from "../session-config.js";
import type { ChangedGroup, DirectorySession, Membership, PassStart, UserPage } from "../types.js";
import { first, firstInt, values } from "../values.js";
import {
  generalizedTimeToMs,
  mapOpenLdapEntry,
  msToGeneralizedTime,
  openLdapUserAttributes,
} from "./mapping.js";

export class OpenLdapSession implements DirectorySession {
  readonly dialect = "openldap" as const;
  readonly deletions = "reconcile" as const;
  private readonly maxAge = new Map<string, number | null>();

  private constructor(
    private readonly client: Client,
    private readonly cfg: SessionConfig,
    readonly rootDse: RootDse,
    private readonly namingContext: string,
  ) {}

  get description(): string {
    return `OpenLDAP${this.rootDse.ppolicy ? " with ppolicy" : ""}, naming context ${this.namingContext}, deletions by reconciliation`;
  }

  static async open(client: Client, cfg: SessionConfig, rootDse: RootDse): Promise<OpenLdapSession> {
    if (cfg.deletions === "tombstones")
      throw new Error("deletions: tombstones is only for Active Directory; OpenLDAP uses reconciliation");
    return new OpenLdapSession(client, cfg, rootDse, namingContextOf(cfg.baseDn, rootDse.namingContexts));
  }

  async beginPass(): Promise<PassStart> {
    return { server: null, mark: null };
  }

  get settleAfterMs(): number {
    return this.cfg.overlapSeconds * 1000 + 1000;
  }

  windowStart(cursor: string, settled: boolean): string {
    const ms = generalizedTimeToMs(cursor) ?? 0;
    return msToGeneralizedTime(settled ? ms + 1000 : ms - this.cfg.overlapSeconds * 1000);
  }

  /** pwdMaxAge (seconds) of a policy entry, read once per session; null when unreadable. */
  private async loadPolicies(entries: Entry[]): Promise<void> {
    const wanted = new Set<string>();
    if (this.cfg.passwordPolicyDn) wanted.add(this.cfg.passwordPolicyDn);
    for (const e of entries) {
      const p = first(e, "pwdPolicySubentry");
      if (p) wanted.add(p);
    }
    for (const dn of wanted) {
      const k = normalizeDn(dn);
      if (this.maxAge.has(k)) continue;
      try {
        const { searchEntries } = await this.client.search(dn, {
          scope: "base",
          filter: "(objectClass=*)",
          attributes: ["pwdMaxAge"],
        });
        const e = searchEntries[0];
        this.maxAge.set(k, e ? firstInt(e, "pwdMaxAge") : null);
      } catch {
        this.maxAge.set(k, null);
      }
    }
  }

  private policyMaxAge = (policyDn: string | null): number | null => {
    const dn = policyDn ?? this.cfg.passwordPolicyDn;
    return dn ? (this.maxAge.get(normalizeDn(dn)) ?? null) : null;
  };

  private async mapPage(entries: Entry[]): Promise<UserPage> {
    await this.loadPolicies(entries);
    const page: UserPage = { users: [], skipped: [] };
    for (const entry of entries) {
      const r = mapOpenLdapEntry(entry, this.cfg.attributes, this.policyMaxAge);
      if (r.ok) page.users.push(r.user);
      else page.skipped.push({ dn: r.dn, reason: r.reason });
    }
    return page;
  }

  async *users(since?: string): AsyncIterable<UserPage> {
    const filter =
      since === undefined ? this.cfg.userFilter : `(&${this.cfg.userFilter}(modifyTimestamp>=${since}))`;
    const pages = this.client.searchPaginated(this.cfg.baseDn, {
      scope: "sub",
      filter,
      attributes: openLdapUserAttributes(this.cfg.attributes),
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) yield await this.mapPage(page.searchEntries);
  }

  async usersByKey(keys: readonly string[]): Promise<UserPage> {
    const out: UserPage = { users: [], skipped: [] };
    for (const dn of keys) {
      if (!isUnder(dn, this.cfg.baseDn)) continue;
      try {
        const { searchEntries } = await this.client.search(dn, {
          scope: "base",
          filter: this.cfg.userFilter,
          attributes: openLdapUserAttributes(this.cfg.attributes),
        });
        const page = await this.mapPage(searchEntries);
        out.users.push(...page.users);
        out.skipped.push(...page.skipped);
      } catch (e) {
        // 32 noSuchObject: the member was deleted or renamed meanwhile; reconciliation handles it.
        if ((e as { code?: number }).code !== 32) throw e;
      }
    }
    return out;
  }

  async usersByAnchor(anchors: readonly string[]): Promise<UserPage> {
    const out: UserPage = { users: [], skipped: [] };
    for (let i = 0; i < anchors.length; i += 50) {
      const any = anchors
        .slice(i, i + 50)
        .map((a) => `(entryUUID=${escapeFilterValue(a)})`)
        .join("");
      const { searchEntries } = await this.client.search(this.cfg.baseDn, {
        scope: "sub",
        filter: `(&${this.cfg.userFilter}(|${any}))`,
        attributes: openLdapUserAttributes(this.cfg.attributes),
        paged: { pageSize: this.cfg.pageSize },
      });
      const page = await this.mapPage(searchEntries);
      out.users.push(...page.users);
      out.skipped.push(...page.skipped);
    }
    return out;
  }

  async *anchors(): AsyncIterable<string[]> {
    const pages = this.client.searchPaginated(this.cfg.baseDn, {
      scope: "sub",
      filter: this.cfg.userFilter,
      attributes: ["entryUUID"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) {
      const list: string[] = [];
      for (const e of page.searchEntries) {
        const u = first(e, "entryUUID");
        if (u) list.push(u.toLowerCase());
      }
      yield list;
    }
  }

  /** DNs (normalized) of every group entry in the naming context. */
  private async allGroups(): Promise<Set<string>> {
    const set = new Set<string>();
    const pages = this.client.searchPaginated(this.namingContext, {
      scope: "sub",
      filter: this.cfg.groupFilter,
      attributes: ["1.1"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) for (const e of page.searchEntries) set.add(normalizeDn(e.dn));
    return set;
  }

  private async readMembers(dn: string): Promise<string[] | null> {
    try {
      const { searchEntries } = await this.client.search(dn, {
        scope: "base",
        filter: "(objectClass=*)",
        attributes: ["member", "uniqueMember"],
      });
      const e = searchEntries[0];
      if (!e) return null;
      // uniqueMember may carry an optional "#'…'B" UID suffix (RFC 4517 Name and Optional UID).
      return [...values(e, "member"), ...values(e, "uniqueMember").map((v) => v.replace(/#'[01]*'B$/, ""))];
    } catch (e) {
      if ((e as { code?: number }).code === 32) return null;
      throw e;
    }
  }

  /** Members (normalized user DNs) of `roots`, following nested groups; adds visited groups to `seen`. */
  private async expand(
    roots: readonly string[],
    groupDns: Set<string>,
    seen: Set<string>,
  ): Promise<Set<string>> {
    const users = new Set<string>();
    const queue = roots.map((g) => normalizeDn(g));
    const visited = new Set<string>();
    const rootSet = new Set(queue);
    while (queue.length > 0) {
      const g = queue.shift() as string;
      if (visited.has(g)) continue;
      visited.add(g);
      seen.add(g);
      const members = await this.readMembers(g);
      if (members === null) {
        if (rootSet.has(g))
          throw new Error(`the group ${g} does not exist (check scopeGroups / adminGroups)`);
        continue;
      }
      for (const m of members) {
        const k = normalizeDn(m);
        if (groupDns.has(k)) {
          if (this.cfg.nestedGroups) queue.push(k);
        } else users.add(k);
      }
    }
    return users;
  }

  async membership(): Promise<Membership> {
    const groupDns = this.cfg.nestedGroups ? await this.allGroups() : new Set<string>();
    const groups = new Set<string>();
    return {
      scope:
        this.cfg.scopeGroups.length > 0 ? await this.expand(this.cfg.scopeGroups, groupDns, groups) : null,
      admin: await this.expand(this.cfg.adminGroups, groupDns, groups),
      groups,
    };
  }

  async changedGroups(since: string): Promise<ChangedGroup[]> {
    const out: ChangedGroup[] = [];
    const pages = this.client.searchPaginated(this.namingContext, {
      scope: "sub",
      filter: `(&${this.cfg.groupFilter}(modifyTimestamp>=${since}))`,
      attributes: ["modifyTimestamp", "entryCSN"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) {
      for (const e of page.searchEntries) {
        const mark = msToGeneralizedTime(generalizedTimeToMs(first(e, "modifyTimestamp")) ?? 0);
        out.push({ dn: normalizeDn(e.dn), mark, version: first(e, "entryCSN") ?? mark });
      }
    }
    return out;
  }

  async deletedSince(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.client.unbind().catch(() => {});
  }
}
