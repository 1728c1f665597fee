/**
 * DNs and filters as the agent compares and builds them. normalizeDn gives one spelling per DN (for
 * set membership and "is under base" checks): attribute types and values lower-cased, spaces around
 * separators dropped; escapes are kept as written. escapeFilterValue follows RFC 4515 §3.
 */

/** Splits on separators that are not escaped with a backslash. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === "\\" && i + 1 < s.length) {
      cur += c + (s[i + 1] as string);
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function normalizeDn(dn: string): string {
  return splitUnescaped(dn.trim(), ",")
    .map((rdn) =>
      splitUnescaped(rdn, "+")
        .map((ava) => {
          const eq = ava.indexOf("=");
          if (eq < 0) return ava.trim().toLowerCase();
          return `${ava.slice(0, eq).trim().toLowerCase()}=${ava
            .slice(eq + 1)
            .trim()
            .toLowerCase()}`;
        })
        .join("+"),
    )
    .filter((r) => r !== "")
    .join(",");
}

/** Whether `dn` is `base` or below it. */
export function isUnder(dn: string, base: string): boolean {
  const d = normalizeDn(dn);
  const b = normalizeDn(base);
  return d === b || d.endsWith(`,${b}`);
}

/** The naming context (from the RootDSE) that holds `baseDn`, or baseDn itself when none matches. */
export function namingContextOf(baseDn: string, contexts: readonly string[]): string {
  const match = contexts
    .filter((c) => c !== "" && isUnder(baseDn, c))
    .sort((a, b) => normalizeDn(b).length - normalizeDn(a).length)[0];
  return match ?? baseDn;
}

/** Escapes a value for an LDAP filter assertion (RFC 4515): * ( ) \ and NUL. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
