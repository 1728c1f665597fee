/**
 * Translation for everything a person reads. One i18next instance, initialised synchronously at import
 * from the catalogues in this folder (no backend plugin, no file loading at run time).
 *
 * Values are NOT HTML-escaped here (`escapeValue: false`): t() returns plain text and the page templates
 * (web/html.ts) escape every value exactly once. Message ids contain dots, so key nesting is off.
 */
import i18next from "i18next";
import { en } from "./en.js";

export type { EnglishMessageId } from "./en.js";
export { en } from "./en.js";

/** The languages with a catalogue. The first is the fallback. */
export const SUPPORTED_LOCALES = ["en"] as const;
export type Locale = (typeof SUPPORTED_LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";

export type MessageParams = Record<string, string | number>;
/** A translator bound to one locale, handed to page components. */
export type Translate = (id: string, params?: MessageParams) => string;

const instance = i18next.createInstance();
void instance.init({
  initAsync: false,
  showSupportNotice: false,
  resources: { en: { translation: en } },
  lng: DEFAULT_LOCALE,
  fallbackLng: DEFAULT_LOCALE,
  supportedLngs: [...SUPPORTED_LOCALES],
  nonExplicitSupportedLngs: false,
  load: "languageOnly",
  keySeparator: false,
  nsSeparator: false,
  returnNull: false,
  returnEmptyString: false,
  interpolation: { escapeValue: false },
});

/** The text of `id` in `locale` (English when the locale or the id is missing there). */
export function t(locale: string, id: string, params?: MessageParams): string {
  const lng = isSupportedLocale(locale) ? locale : DEFAULT_LOCALE;
  return String(instance.t(id, { ...params, lng }));
}

/** A translator bound to one locale. */
export function translator(locale: string): Translate {
  return (id, params) => t(locale, id, params);
}

/** True when the catalogue of `locale` (or its English fallback) has a text for `id`, plain or plural. */
export function hasMessage(id: string, locale: string = DEFAULT_LOCALE): boolean {
  const lng = isSupportedLocale(locale) ? locale : DEFAULT_LOCALE;
  return instance.exists(id, { lng }) || instance.exists(`${id}_other`, { lng });
}

export function isSupportedLocale(locale: string): locale is Locale {
  return (SUPPORTED_LOCALES as readonly string[]).includes(locale);
}

/**
 * Picks the best supported locale from an Accept-Language header (RFC 9110 §12.5.4): highest q first,
 * ties in header order; `en-GB` matches `en`; `*` or nothing usable gives the default.
 */
export function negotiateLocale(acceptLanguage: string | string[] | undefined): Locale;
export function negotiateLocale<L extends string>(
  acceptLanguage: string | string[] | undefined,
  supported: readonly L[],
  fallback: L,
): L;
export function negotiateLocale(
  acceptLanguage: string | string[] | undefined,
  supported: readonly string[] = SUPPORTED_LOCALES,
  fallback: string = DEFAULT_LOCALE,
): string {
  const isSupported = (tag: string) => supported.includes(tag);
  const header = Array.isArray(acceptLanguage) ? acceptLanguage.join(",") : acceptLanguage;
  if (!header) return fallback;
  const ranges: { tag: string; q: number; order: number }[] = [];
  // A hostile header must not cost much: look at the first 50 entries only.
  for (const [order, part] of header.split(",").slice(0, 50).entries()) {
    const [rawTag, ...paramParts] = part.trim().split(";");
    const tag = rawTag?.trim().toLowerCase() ?? "";
    if (!/^(?:\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*)$/.test(tag)) continue;
    let q = 1;
    for (const p of paramParts) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (q > 0) ranges.push({ tag, q, order });
  }
  ranges.sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { tag } of ranges) {
    if (tag === "*") return fallback;
    const primary = tag.split("-")[0] ?? "";
    if (isSupported(tag)) return tag;
    if (isSupported(primary)) return primary;
  }
  return fallback;
}
