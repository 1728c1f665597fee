/**
 * The one way portal pages build HTML: a tagged template that escapes every interpolated value.
 *
 *   html`<p title="${userText}">${userText}</p>`
 *
 * - Every value is HTML-escaped (& < > " ' `) unless it is a SafeHtml, which only html`` and raw() make.
 * - Arrays are rendered item by item and joined; null, undefined and false render nothing, so
 *   `${cond && html`...`}` works.
 * - Inside a tag, a value must sit in a quoted attribute value (quoting is what makes escaping enough);
 *   an unquoted `=${v}` or bare text between attributes throws. Between attributes only SafeHtml (e.g.
 *   attrs()) may go.
 * - An interpolation that is the whole of a URL attribute (href, src, action, formaction…) is also passed
 *   through safeUrl(), so a `javascript:` URL from settings or input becomes harmless.
 */

const BRAND = Symbol("latchkey.SafeHtml");

/** A string known to be safe HTML. Made only by html`` and raw(). */
export class SafeHtml {
  readonly #value: string;

  constructor(token: symbol, value: string) {
    // The token stays inside this module, so nothing else can mint SafeHtml from an arbitrary string.
    if (token !== BRAND) throw new TypeError("SafeHtml is made only by html`` or raw()");
    this.#value = value;
  }

  toString(): string {
    return this.#value;
  }
}

/** What may be interpolated. `true` is excluded on purpose: `${flag}` is almost always a bug. */
export type HtmlValue = string | number | bigint | SafeHtml | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

/** Attributes whose value is a URL that a browser may navigate to or load. */
const URL_ATTRIBUTE =
  /\s(?:href|src|action|formaction|poster|cite|data|xlink:href|challengeurl)\s*=\s*["']$/i;

type Context = "content" | "tag" | "value";

/**
 * Where the next interpolation lands, judged from the output so far. Interpolated text never holds a
 * raw `<`, `>` or quote (they are escaped), and nested SafeHtml is whole elements, so a scan of the
 * last tag is enough.
 */
function contextAt(out: string): Context {
  const open = out.lastIndexOf("<");
  if (open < 0 || open < out.lastIndexOf(">")) return "content";
  let quote: string | null = null;
  for (let i = open; i < out.length; i++) {
    const c = out[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    }
  }
  return quote ? "value" : "tag";
}

/**
 * Returns the URL when it is relative or uses http(s)/mailto/tel, otherwise a harmless placeholder.
 * Control characters and whitespace are stripped first, as browsers do when parsing a scheme.
 */
export function safeUrl(url: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what browsers strip from schemes.
  const compact = url.replace(/[\u0000-\u0020\u007f]/g, "");
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(compact);
  if (!scheme) return url;
  const name = scheme[1]!.toLowerCase();
  return name === "http" || name === "https" || name === "mailto" || name === "tel"
    ? url
    : "about:invalid#unsafe-url";
}

function render(value: HtmlValue, inUrlAttribute: boolean): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map((v: HtmlValue) => render(v, false)).join("");
  const text = String(value);
  return escapeHtml(inUrlAttribute ? safeUrl(text) : text);
}

/** The tagged template. Returns SafeHtml so results nest without being escaped twice. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    const after = strings[i + 1] ?? "";
    const context = contextAt(out);
    if (context === "tag") {
      // Between attributes only whole, trusted fragments (attrs(), html``) may go: escaping cannot stop
      // a plain string such as `onclick=alert(1)` from becoming an attribute.
      if (/=\s*$/.test(out)) {
        throw new Error(
          `html\`\`: quote the attribute value before interpolation #${i} (…${out.slice(-30)})`,
        );
      }
      if (!(value instanceof SafeHtml) && value !== null && value !== undefined && value !== false) {
        throw new Error(`html\`\`: interpolation #${i} inside a tag must be attrs() or html\`\`, not text`);
      }
    }
    // The URL check applies when the value is the whole attribute, not a part after a fixed prefix.
    const wholeUrl = context === "value" && URL_ATTRIBUTE.test(out) && /^["']/.test(after);
    out += render(value, wholeUrl) + after;
  }
  return new SafeHtml(BRAND, out);
}

/** Marks a trusted constant (never user input, never settings) as HTML. */
export function raw(trusted: string): SafeHtml {
  return new SafeHtml(BRAND, trusted);
}

/** Joins fragments with an optional separator (the separator is escaped like any value). */
export function join(parts: readonly HtmlValue[], separator: HtmlValue = ""): SafeHtml {
  const sep = render(separator, false);
  return new SafeHtml(BRAND, parts.map((p) => render(p, false)).join(sep));
}

/**
 * Renders a map of attributes: `true` → bare attribute, false/null/undefined → omitted, anything else
 * escaped and double-quoted. Names must be plain (letters, digits, - _ :) so they cannot inject markup.
 */
export function attrs(map: Record<string, string | number | boolean | null | undefined>): SafeHtml {
  let out = "";
  for (const [name, value] of Object.entries(map)) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:.-]*$/.test(name))
      throw new Error(`attrs(): invalid attribute name ${name}`);
    if (value === false || value === null || value === undefined) continue;
    if (value === true) {
      out += ` ${name}`;
      continue;
    }
    const isUrl = URL_ATTRIBUTE.test(` ${name}="`);
    out += ` ${name}="${escapeHtml(isUrl ? safeUrl(String(value)) : String(value))}"`;
  }
  return new SafeHtml(BRAND, out);
}
