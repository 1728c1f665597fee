/**
 * Every message Latchkey sends, by stable message id, as plain functions of their parameters.
 * English only for now; the table is keyed by locale and then by message id so a translation is a
 * new table, not new logic. Values interpolated into HTML are escaped here, once.
 */

export const MESSAGE_IDS = [
  "verification.code",
  "password.reset",
  "admin.reset_notice",
  "admin.contact_request",
  "password.changed",
  "security_info.changed",
] as const;
export type MessageId = (typeof MESSAGE_IDS)[number];

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

export interface VerificationCodeParams {
  code: string;
  organisationName: string;
  /** Lifetime of the code in minutes, as the person should read it. */
  minutes: number;
}

export interface PasswordResetParams {
  organisationName: string;
  username: string;
  displayName?: string | null;
  /** Epoch ms of the reset. */
  at: number;
  ip: string | null;
  helpdeskText: string;
  helpdeskUrl?: string | null;
  /** IANA zone for the time shown; UTC when absent. */
  timeZone?: string;
}

/** A person changed their own password (signed in, or forced at sign-in by the directory). */
export type PasswordChangedParams = PasswordResetParams;

export interface AdminResetNoticeParams {
  organisationName: string;
  /** The administrator whose password was reset. */
  username: string;
  displayName?: string | null;
  at: number;
  ip: string | null;
  timeZone?: string;
}

export interface ContactAdminRequestParams {
  organisationName: string;
  /** What the person typed or the account it resolved to; shown to admins only. */
  username: string;
  displayName?: string | null;
  /** Stable reason code (audit/catalogue.ts REASON_CODES), e.g. not_enough_methods. */
  reasonCode: string | null;
  /** The reason in words, from the same catalogue. */
  reasonText: string | null;
  at: number;
  ip: string | null;
  timeZone?: string;
}

export interface SecurityInfoChangedParams {
  organisationName: string;
  username: string;
  displayName?: string | null;
  /** What happened to the method. */
  change: "added" | "confirmed" | "removed";
  /** The method in words, e.g. "a phone number for text messages (•••• •••• 89)"; masked, never a secret. */
  what: string;
  at: number;
  ip: string | null;
  helpdeskText: string;
  helpdeskUrl?: string | null;
  timeZone?: string;
}

export function escapeHtml(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function formatTime(at: number, timeZone = "UTC"): string {
  try {
    const s = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeStyle: "long", timeZone }).format(at);
    return s;
  } catch {
    // An unknown zone in the configuration must not stop the message.
    return new Date(at).toISOString();
  }
}

/** "1, 2, 3, 4, 5, 6": speech engines read separated digits one at a time. */
export function spellDigits(code: string): string {
  return [...code].join(", ");
}

function htmlPage(title: string, paragraphs: string[]): string {
  const body = paragraphs.map((p) => `<p>${p}</p>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; max-width: 36rem;">
${body}
</body></html>`;
}

function who(username: string, displayName?: string | null): string {
  return displayName ? `${displayName} (${username})` : username;
}

const en = {
  "verification.code": {
    email(p: VerificationCodeParams): EmailContent {
      const subject = `${p.organisationName} verification code`;
      const text = [
        `Your verification code is ${p.code}.`,
        "",
        `It expires in ${p.minutes} minutes and works once. Nobody from ${p.organisationName} will ever ask you for it.`,
        "If you did not try to reset your password, ignore this message: nothing changes without the code.",
      ].join("\n");
      const html = htmlPage(subject, [
        "Your verification code is:",
        `<strong style="font-size: 1.6em; letter-spacing: 0.2em;">${escapeHtml(p.code)}</strong>`,
        `It expires in ${p.minutes} minutes and works once. Nobody from ${escapeHtml(p.organisationName)} will ever ask you for it.`,
        "If you did not try to reset your password, ignore this message: nothing changes without the code.",
      ]);
      return { subject, text, html };
    },
    sms(p: VerificationCodeParams): string {
      return `${p.code} is your ${p.organisationName} verification code. It expires in ${p.minutes} min. Never share it.`;
    },
    voice(p: Omit<VerificationCodeParams, "minutes"> & { minutes?: number }): string {
      const digits = spellDigits(p.code);
      return `This is ${p.organisationName}. Your verification code is: ${digits}. Again, your code is: ${digits}. Goodbye.`;
    },
  },
  "password.reset": {
    email(p: PasswordResetParams): EmailContent {
      const subject = `Your ${p.organisationName} password was reset`;
      const when = formatTime(p.at, p.timeZone);
      const from = p.ip ?? "an unknown address";
      const help = p.helpdeskUrl ? `${p.helpdeskText} ${p.helpdeskUrl}` : p.helpdeskText;
      const text = [
        `The password of ${who(p.username, p.displayName)} was reset at ${when} from ${from}.`,
        "",
        `If this wasn't you, someone else may control your account: contact your helpdesk now. ${help}`,
      ].join("\n");
      const helpHtml = p.helpdeskUrl
        ? `${escapeHtml(p.helpdeskText)} <a href="${escapeHtml(p.helpdeskUrl)}">${escapeHtml(p.helpdeskUrl)}</a>`
        : escapeHtml(p.helpdeskText);
      const html = htmlPage(subject, [
        `The password of ${escapeHtml(who(p.username, p.displayName))} was reset at ${escapeHtml(when)} from ${escapeHtml(from)}.`,
        `<strong>If this wasn't you</strong>, someone else may control your account: contact your helpdesk now. ${helpHtml}`,
      ]);
      return { subject, text, html };
    },
  },
  "password.changed": {
    email(p: PasswordChangedParams): EmailContent {
      const subject = `Your ${p.organisationName} password was changed`;
      const when = formatTime(p.at, p.timeZone);
      const from = p.ip ?? "an unknown address";
      const help = p.helpdeskUrl ? `${p.helpdeskText} ${p.helpdeskUrl}` : p.helpdeskText;
      const text = [
        `The password of ${who(p.username, p.displayName)} was changed at ${when} from ${from}.`,
        "Every other place where you were signed in has been signed out.",
        "",
        `If this wasn't you, someone else may control your account: reset your password and contact your helpdesk now. ${help}`,
      ].join("\n");
      const helpHtml = p.helpdeskUrl
        ? `${escapeHtml(p.helpdeskText)} <a href="${escapeHtml(p.helpdeskUrl)}">${escapeHtml(p.helpdeskUrl)}</a>`
        : escapeHtml(p.helpdeskText);
      const html = htmlPage(subject, [
        `The password of ${escapeHtml(who(p.username, p.displayName))} was changed at ${escapeHtml(when)} from ${escapeHtml(from)}.`,
        "Every other place where you were signed in has been signed out.",
        `<strong>If this wasn't you</strong>, someone else may control your account: reset your password and contact your helpdesk now. ${helpHtml}`,
      ]);
      return { subject, text, html };
    },
  },
  "admin.reset_notice": {
    email(p: AdminResetNoticeParams): EmailContent {
      const subject = `${p.organisationName}: an administrator reset their password`;
      const when = formatTime(p.at, p.timeZone);
      const from = p.ip ?? "an unknown address";
      const text = [
        `The administrator account ${who(p.username, p.displayName)} reset its password through self-service at ${when} from ${from}.`,
        "",
        "You receive this because you are an administrator. If the reset was not expected, check the audit log and contact the account's owner.",
      ].join("\n");
      const html = htmlPage(subject, [
        `The administrator account ${escapeHtml(who(p.username, p.displayName))} reset its password through self-service at ${escapeHtml(when)} from ${escapeHtml(from)}.`,
        "You receive this because you are an administrator. If the reset was not expected, check the audit log and contact the account's owner.",
      ]);
      return { subject, text, html };
    },
  },
  "admin.contact_request": {
    email(p: ContactAdminRequestParams): EmailContent {
      const subject = `${p.organisationName}: ${p.username} asks for help with their password`;
      const when = formatTime(p.at, p.timeZone);
      const from = p.ip ?? "an unknown address";
      const reason = p.reasonText
        ? `${p.reasonText}${p.reasonCode ? ` (${p.reasonCode})` : ""}`
        : "not stated";
      const text = [
        `${who(p.username, p.displayName)} could not reset their password through self-service and asked for an administrator's help.`,
        "",
        `Reason: ${reason}`,
        `Asked at ${when} from ${from}.`,
        "",
        "Verify who is asking through a channel you trust before you change anything.",
      ].join("\n");
      const html = htmlPage(subject, [
        `${escapeHtml(who(p.username, p.displayName))} could not reset their password through self-service and asked for an administrator's help.`,
        `Reason: ${escapeHtml(reason)}<br>Asked at ${escapeHtml(when)} from ${escapeHtml(from)}.`,
        "Verify who is asking through a channel you trust before you change anything.",
      ]);
      return { subject, text, html };
    },
  },
  "security_info.changed": {
    email(p: SecurityInfoChangedParams): EmailContent {
      const verb = { added: "was added to", confirmed: "was confirmed for", removed: "was removed from" }[
        p.change
      ];
      const subject = `${p.organisationName}: your security information changed`;
      const when = formatTime(p.at, p.timeZone);
      const from = p.ip ?? "an unknown address";
      const help = p.helpdeskUrl ? `${p.helpdeskText} ${p.helpdeskUrl}` : p.helpdeskText;
      const what = `${p.what.slice(0, 1).toUpperCase()}${p.what.slice(1)}`;
      const first = `${what} ${verb} the account ${who(p.username, p.displayName)} at ${when} from ${from}.`;
      const why =
        "These are the ways you confirm it is you when you reset your password or change your security information.";
      const text = [
        first,
        "",
        why,
        `If this wasn't you, someone else may have your password: contact your helpdesk now. ${help}`,
      ].join("\n");
      const helpHtml = p.helpdeskUrl
        ? `${escapeHtml(p.helpdeskText)} <a href="${escapeHtml(p.helpdeskUrl)}">${escapeHtml(p.helpdeskUrl)}</a>`
        : escapeHtml(p.helpdeskText);
      const html = htmlPage(subject, [
        escapeHtml(first),
        why,
        `<strong>If this wasn't you</strong>, someone else may have your password: contact your helpdesk now. ${helpHtml}`,
      ]);
      return { subject, text, html };
    },
  },
} as const;

/** Locale tables; a locale missing here falls back to English. */
export const MESSAGES = { en } as const;
export type Locale = keyof typeof MESSAGES;

function table(locale: string): typeof en {
  return (MESSAGES as Record<string, typeof en>)[locale] ?? en;
}

export function verificationCodeEmail(p: VerificationCodeParams, locale = "en"): EmailContent {
  return table(locale)["verification.code"].email(p);
}

export function verificationCodeSms(p: VerificationCodeParams, locale = "en"): string {
  return table(locale)["verification.code"].sms(p);
}

export function verificationCodeVoice(p: VerificationCodeParams, locale = "en"): string {
  return table(locale)["verification.code"].voice(p);
}

export function passwordResetEmail(p: PasswordResetParams, locale = "en"): EmailContent {
  return table(locale)["password.reset"].email(p);
}

export function adminResetNoticeEmail(p: AdminResetNoticeParams, locale = "en"): EmailContent {
  return table(locale)["admin.reset_notice"].email(p);
}

export function contactAdminRequestEmail(p: ContactAdminRequestParams, locale = "en"): EmailContent {
  return table(locale)["admin.contact_request"].email(p);
}

export function passwordChangedEmail(p: PasswordChangedParams, locale = "en"): EmailContent {
  return table(locale)["password.changed"].email(p);
}

export function securityInfoChangedEmail(p: SecurityInfoChangedParams, locale = "en"): EmailContent {
  return table(locale)["security_info.changed"].email(p);
}
