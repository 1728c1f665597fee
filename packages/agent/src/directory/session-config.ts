/** A directory's configuration resolved for its dialect (defaults filled in), as sessions use it. */
import type { AgentConfig, AgentDirectoryConfig } from "../config/schema.js";
import { AD_DEFAULT_ATTRIBUTES, AD_DEFAULT_GROUP_FILTER, AD_DEFAULT_USER_FILTER } from "./ad/mapping.js";
import {
  OPENLDAP_DEFAULT_ATTRIBUTES,
  OPENLDAP_DEFAULT_GROUP_FILTER,
  OPENLDAP_DEFAULT_USER_FILTER,
} from "./openldap/mapping.js";
import type { AttributeMap } from "./types.js";

export interface SessionConfig {
  id: string;
  baseDn: string;
  userFilter: string;
  groupFilter: string;
  scopeGroups: string[];
  adminGroups: string[];
  nestedGroups: boolean;
  attributes: AttributeMap;
  pageSize: number;
  deletions: "auto" | "tombstones" | "reconcile";
  overlapSeconds: number;
  passwordPolicyDn: string | null;
}

export function resolveSessionConfig(
  d: AgentDirectoryConfig,
  dialect: "ad" | "openldap",
  sync: Pick<AgentConfig["sync"], "pageSize" | "overlapSeconds">,
): SessionConfig {
  const defaults = dialect === "ad" ? AD_DEFAULT_ATTRIBUTES : OPENLDAP_DEFAULT_ATTRIBUTES;
  const a = d.attributes;
  const attributes: AttributeMap = {
    username: a.username ?? defaults.username,
    upn: a.upn === undefined ? defaults.upn : a.upn,
    displayName: a.displayName ?? defaults.displayName,
    displayNameFallback: a.displayName ? null : defaults.displayNameFallback,
    givenName: a.givenName ?? defaults.givenName,
    surname: a.surname ?? defaults.surname,
    mail: a.mail ?? defaults.mail,
    mobile: a.mobile ?? defaults.mobile,
    telephoneNumber: a.telephoneNumber ?? defaults.telephoneNumber,
  };
  return {
    id: d.id,
    baseDn: d.baseDn,
    userFilter: d.userFilter ?? (dialect === "ad" ? AD_DEFAULT_USER_FILTER : OPENLDAP_DEFAULT_USER_FILTER),
    groupFilter:
      d.groupFilter ?? (dialect === "ad" ? AD_DEFAULT_GROUP_FILTER : OPENLDAP_DEFAULT_GROUP_FILTER),
    scopeGroups: d.scopeGroups,
    adminGroups: d.adminGroups,
    nestedGroups: d.nestedGroups,
    attributes,
    pageSize: sync.pageSize,
    deletions: d.deletions,
    overlapSeconds: sync.overlapSeconds,
    passwordPolicyDn: d.passwordPolicyDn,
  };
}
