/**
 * The one rule both the server's and the agent's configuration apply to a directory connection:
 * LDAPS, or plain LDAP upgraded with StartTLS — never passwords over an unencrypted connection.
 */
export interface TransportIssue {
  field: "url" | "startTls";
  problem: string;
  fix: string;
}

export function directoryTransportIssues(url: string, startTls: boolean): TransportIssue[] {
  const plain = url.toLowerCase().startsWith("ldap://");
  if (plain && !startTls) {
    return [
      {
        field: "url",
        problem: "plain ldap:// without StartTLS would send passwords in clear",
        fix: "use ldaps:// or set startTls: true",
      },
    ];
  }
  if (!plain && startTls) {
    return [
      {
        field: "startTls",
        problem: "StartTLS cannot be used on an ldaps:// connection",
        fix: "remove startTls or use ldap://",
      },
    ];
  }
  return [];
}
