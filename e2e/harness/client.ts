/**
 * A small HTTP client for driving the portal from Node: keeps cookies like a browser (one jar per
 * client), never follows redirects on its own (the tests look at each response), and posts forms
 * or JSON. Also solves captcha challenges in Node, as the widget does in the page.
 */
import { createHash } from "node:crypto";
import { solveChallenge } from "altcha-lib";
import type { Captcha, CaptchaChallenge } from "../../packages/server/src/web/altcha.js";

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The Location header of a redirect. */
  location: string | null;
}

export interface RequestOptions {
  form?: Record<string, string>;
  json?: unknown;
  headers?: Record<string, string>;
}

export class HttpClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { "accept-language": "en", ...opts.headers };
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (opts.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      redirect: "manual",
      ...(body !== undefined ? { body } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(c) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return {
      status: res.status,
      headers: res.headers,
      text: await res.text(),
      location: res.headers.get("location"),
    };
  }

  get(path: string, opts?: RequestOptions): Promise<HttpResult> {
    return this.request("GET", path, opts);
  }

  post(path: string, opts?: RequestOptions): Promise<HttpResult> {
    return this.request("POST", path, opts);
  }

  /** POSTs a form and, when answered with a redirect, GETs its target (POST-redirect-GET). */
  async submit(path: string, form: Record<string, string>): Promise<HttpResult> {
    const res = await this.post(path, { form });
    if (res.status === 303 && res.location) return this.get(res.location);
    return res;
  }
}

/** The CSRF token of a rendered page (its <meta name="csrf-token">). */
export function csrfOf(html: string): string {
  const m = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
  if (!m?.[1]) throw new Error("no csrf-token meta in the page");
  return m[1];
}

function payload(c: CaptchaChallenge, number: number): string {
  return Buffer.from(
    JSON.stringify({
      algorithm: c.algorithm,
      challenge: c.challenge,
      number,
      salt: c.salt,
      signature: c.signature,
    }),
  ).toString("base64");
}

/** Solves a challenge with altcha-lib, as the widget does, and encodes the payload as it submits it. */
export async function solveCaptchaChallenge(c: CaptchaChallenge): Promise<string> {
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error("captcha challenge not solvable");
  return payload(c, solution.number);
}

/**
 * The same search with node:crypto in one synchronous loop: altcha-lib awaits WebCrypto once per
 * candidate (~25 ms a challenge), which adds up when a test pre-solves a thousand.
 */
export function solveCaptchaChallengeFast(c: CaptchaChallenge): string {
  for (let n = 0; n <= c.maxnumber; n++) {
    if (createHash("sha256").update(`${c.salt}${n}`).digest("hex") === c.challenge) return payload(c, n);
  }
  throw new Error("captcha challenge not solvable");
}

/** A fresh challenge from the server's captcha, solved. */
export async function solvedCaptcha(captcha: Captcha): Promise<string> {
  return solveCaptchaChallengeFast(await captcha.challenge());
}
