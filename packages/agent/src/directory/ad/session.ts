/**
 * Active Directory, read for sync.
 *
 * - Users: a paged subtree search of baseDn with the user filter.
 * - Changes: uSNChanged above the cursor, where the cursor is the DC's highestCommittedUSN read at the
 *   start of the previous pass. USNs are per DC: the cursor carries the DC's dsServiceName, and a
 *   different DC means a full pass.
 * - Membership: for each scope/admin group, the users that are members directly or through nested
 *   groups (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941), by objectGUID. A membership change
 *   changes the group's uSNChanged, not the user's: the engine watches the groups.
 * - Deletions: tombstones (Show Deleted control 1.2.840.113556.1.4.417, isDeleted=TRUE, uSNChanged
 *   above the cursor) when the service account can read CN=Deleted Objects; otherwise reconciliation.
 */
import { AndFilter, type Client, Control, type Entry, EqualityFilter, FilterParser, OrFilter } from "ldapts";
import { escapeFilterValue, namingContextOf, normalizeDn } from "../dn.js";
import type { RootDse } from "../rootdse.js";
import type { SessionConfig } from "../session-config.js";
import type { ChangedGroup, DirectorySession, Membership, PassStart, UserPage } from "../types.js";
import { first, firstBigInt, firstBuffer } from "../values.js";
import { adUserAttributes, guidToUuid, mapAdEntry, usnMark, uuidToGuid } from "./mapping.js";

export const SHOW_DELETED_OID = "1.2.840.113556.1.4.417";
export const IN_CHAIN_RULE = "1.2.840.113556.1.4.1941";

export class AdSession implements DirectorySession {
  readonly dialect = "ad" as const;
  readonly settleAfterMs = 0;
  private constructor(
    private readonly client: Client,
    private readonly cfg: SessionConfig,
    readonly rootDse: RootDse,
    private readonly namingContext: string,
    readonly deletions: "tombstones" | "reconcile",
  ) {}

  get description(): string {
    return `Active Directory, naming context ${this.namingContext}, deletions by ${this.deletions}`;
  }

  static async open(client: Client, cfg: SessionConfig, rootDse: RootDse): Promise<AdSession> {
    const nc = rootDse.defaultNamingContext ?? namingContextOf(cfg.baseDn, rootDse.namingContexts);
    let deletions: "tombstones" | "reconcile" = "reconcile";
    if (cfg.deletions !== "reconcile") {
      const readable = await canReadTombstones(client, nc);
      if (readable) deletions = "tombstones";
      else if (cfg.deletions === "tombstones")
        throw new Error(
          `deletions: tombstones is configured, but the service account cannot read CN=Deleted Objects,${nc} (grant it List Contents and Read Property there, or use deletions: auto)`,
        );
    }
    return new AdSession(client, cfg, rootDse, nc, deletions);
  }

  async beginPass(): Promise<PassStart> {
    const { searchEntries } = await this.client.search("", {
      scope: "base",
      filter: "(objectClass=*)",
      attributes: ["highestCommittedUSN", "dsServiceName"],
    });
    const e = searchEntries[0];
    const usn = e ? firstBigInt(e, "highestCommittedUSN") : null;
    if (!e || usn === null) throw new Error("the DC did not say its highestCommittedUSN");
    return { server: first(e, "dsServiceName") ?? "", mark: usnMark(usn) };
  }

  windowStart(cursor: string, _settled: boolean): string {
    return usnMark(BigInt(cursor) + 1n);
  }

  private userFilter(since?: string): string {
    return since === undefined
      ? this.cfg.userFilter
      : `(&${this.cfg.userFilter}(uSNChanged>=${BigInt(since)}))`;
  }

  async *users(since?: string): AsyncIterable<UserPage> {
    const pages = this.client.searchPaginated(this.cfg.baseDn, {
      scope: "sub",
      filter: this.userFilter(since),
      attributes: adUserAttributes(this.cfg.attributes),
      explicitBufferAttributes: ["objectGUID"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) yield this.mapPage(page.searchEntries);
  }

  private mapPage(entries: Entry[]): UserPage {
    const page: UserPage = { users: [], skipped: [] };
    for (const entry of entries) {
      const r = mapAdEntry(entry, this.cfg.attributes);
      if (r.ok) page.users.push(r.user);
      else page.skipped.push({ dn: r.dn, reason: r.reason });
    }
    return page;
  }

  usersByKey(keys: readonly string[]): Promise<UserPage> {
    return this.usersByAnchor(keys);
  }

  async usersByAnchor(keys: readonly string[]): Promise<UserPage> {
    const out: UserPage = { users: [], skipped: [] };
    for (let i = 0; i < keys.length; i += 50) {
      const chunk = keys.slice(i, i + 50);
      // Built as filter objects: ldapts's string parser turns \xx escapes above 0x7f into UTF-8.
      const filter = new AndFilter({
        filters: [
          FilterParser.parseString(this.cfg.userFilter),
          new OrFilter({
            filters: chunk.map((k) => new EqualityFilter({ attribute: "objectGUID", value: uuidToGuid(k) })),
          }),
        ],
      });
      const { searchEntries } = await this.client.search(this.cfg.baseDn, {
        scope: "sub",
        filter,
        attributes: adUserAttributes(this.cfg.attributes),
        explicitBufferAttributes: ["objectGUID"],
        paged: { pageSize: this.cfg.pageSize },
      });
      const page = this.mapPage(searchEntries);
      out.users.push(...page.users);
      out.skipped.push(...page.skipped);
    }
    return out;
  }

  async *anchors(): AsyncIterable<string[]> {
    const pages = this.client.searchPaginated(this.cfg.baseDn, {
      scope: "sub",
      filter: this.cfg.userFilter,
      attributes: ["objectGUID"],
      explicitBufferAttributes: ["objectGUID"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) {
      const list: string[] = [];
      for (const e of page.searchEntries) {
        const g = firstBuffer(e, "objectGUID");
        if (g && g.length === 16) list.push(guidToUuid(g));
      }
      yield list;
    }
  }

  private async requireGroup(dn: string): Promise<void> {
    try {
      const { searchEntries } = await this.client.search(dn, {
        scope: "base",
        filter: "(objectClass=*)",
        attributes: ["1.1"],
      });
      if (searchEntries.length === 1) return;
    } catch (e) {
      if ((e as { code?: number }).code !== 32) throw e;
    }
    throw new Error(`the group ${dn} does not exist (check scopeGroups / adminGroups)`);
  }

  private async membersOf(groups: readonly string[]): Promise<Set<string>> {
    const set = new Set<string>();
    for (const g of groups) {
      await this.requireGroup(g);
      const rule = this.cfg.nestedGroups ? `memberOf:${IN_CHAIN_RULE}:` : "memberOf";
      const pages = this.client.searchPaginated(this.cfg.baseDn, {
        scope: "sub",
        filter: `(&${this.cfg.userFilter}(${rule}=${escapeFilterValue(g)}))`,
        attributes: ["objectGUID"],
        explicitBufferAttributes: ["objectGUID"],
        paged: { pageSize: this.cfg.pageSize },
      });
      for await (const page of pages) {
        for (const e of page.searchEntries) {
          const guid = firstBuffer(e, "objectGUID");
          if (guid && guid.length === 16) set.add(guidToUuid(guid));
        }
      }
    }
    return set;
  }

  async membership(): Promise<Membership> {
    const groups = new Set<string>();
    const configured = [...this.cfg.scopeGroups, ...this.cfg.adminGroups];
    for (const g of configured) {
      groups.add(normalizeDn(g));
      if (!this.cfg.nestedGroups) continue;
      const pages = this.client.searchPaginated(this.namingContext, {
        scope: "sub",
        filter: `(&${this.cfg.groupFilter}(memberOf:${IN_CHAIN_RULE}:=${escapeFilterValue(g)}))`,
        attributes: ["1.1"],
        paged: { pageSize: this.cfg.pageSize },
      });
      for await (const page of pages) for (const e of page.searchEntries) groups.add(normalizeDn(e.dn));
    }
    return {
      scope: this.cfg.scopeGroups.length > 0 ? await this.membersOf(this.cfg.scopeGroups) : null,
      admin: await this.membersOf(this.cfg.adminGroups),
      groups,
    };
  }

  async changedGroups(since: string): Promise<ChangedGroup[]> {
    const out: ChangedGroup[] = [];
    const pages = this.client.searchPaginated(this.namingContext, {
      scope: "sub",
      filter: `(&${this.cfg.groupFilter}(uSNChanged>=${BigInt(since)}))`,
      attributes: ["uSNChanged"],
      paged: { pageSize: this.cfg.pageSize },
    });
    for await (const page of pages) {
      for (const e of page.searchEntries) {
        const usn = firstBigInt(e, "uSNChanged") ?? 0n;
        out.push({ dn: normalizeDn(e.dn), mark: usnMark(usn), version: usn.toString() });
      }
    }
    return out;
  }

  async deletedSince(since: string): Promise<string[]> {
    if (this.deletions !== "tombstones") return [];
    const out: string[] = [];
    const { searchEntries } = await this.client.search(
      this.namingContext,
      {
        scope: "sub",
        filter: `(&(isDeleted=TRUE)(objectClass=user)(uSNChanged>=${BigInt(since)}))`,
        attributes: ["objectGUID"],
        explicitBufferAttributes: ["objectGUID"],
        paged: { pageSize: this.cfg.pageSize },
      },
      new Control(SHOW_DELETED_OID, { critical: true }),
    );
    for (const e of searchEntries) {
      const g = firstBuffer(e, "objectGUID");
      if (g && g.length === 16) out.push(guidToUuid(g));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.unbind().catch(() => {});
  }
}

/** Whether the bound account can read tombstones: it can read isDeleted of CN=Deleted Objects. */
async function canReadTombstones(client: Client, nc: string): Promise<boolean> {
  try {
    const { searchEntries } = await client.search(
      `CN=Deleted Objects,${nc}`,
      { scope: "base", filter: "(objectClass=*)", attributes: ["isDeleted"] },
      new Control(SHOW_DELETED_OID, { critical: true }),
    );
    const e = searchEntries[0];
    return e !== undefined && (first(e, "isDeleted") ?? "").toUpperCase() === "TRUE";
  } catch {
    return false;
  }
}
