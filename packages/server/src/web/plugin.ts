/**
 * The web foundation as one fastify plugin: static assets (/static/), the altcha widget's files
 * (/static/vendor/), the tenant colour (/brand.css), the captcha challenge (GET /api/v1/captcha/challenge)
 * and, in demo mode only, the outbox page (/demo/outbox). Portal pages themselves live with their flows.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyPluginAsync } from "fastify";
import { negotiateLocale, translator } from "../i18n/index.js";
import type { Captcha } from "./altcha.js";
import { brandCss } from "./brand.js";
import { CAPTCHA_CHALLENGE_PATH, definitionList } from "./components.js";
import { html } from "./html.js";
import { type Branding, renderPage } from "./layout.js";
import { sendPage } from "./security-headers.js";

export interface OutboxMessage {
  channel: string;
  to: string;
  subject?: string | null;
  text: string;
  /** Epoch milliseconds or a Date. */
  sentAt: number | Date;
}

export interface WebPluginOptions {
  /** The branding of the tenant with this slug (or of the default tenant when none is given). */
  getBranding(tenantSlug?: string): Promise<Branding>;
  captcha: Captcha;
  /** The demo outbox; listed at /demo/outbox when demoMode is on. Newest first is the caller's choice. */
  demoOutbox?: { list(): OutboxMessage[] | Promise<OutboxMessage[]> };
  demoMode: boolean;
}

/** packages/server/static, found from this file whether it runs from src/web or dist/web. */
export const STATIC_ROOT = fileURLToPath(new URL("../../static/", import.meta.url));

/** The altcha widget build without injected styles or an inline (blob:) worker: CSP-compatible. */
function altchaExternalDir(): string {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("altcha/external"));
  for (const f of ["altcha.js", "altcha.css", "worker.js"]) {
    if (!existsSync(`${dir}/${f}`))
      throw new Error(`altcha: ${f} missing in ${dir}; the widget cannot be served`);
  }
  return dir;
}

const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const webPlugin: FastifyPluginAsync<WebPluginOptions> = async (app, opts) => {
  await app.register(fastifyStatic, {
    root: STATIC_ROOT,
    prefix: "/static/",
    index: false,
    list: false,
    dotfiles: "deny",
    // Assets are not fingerprinted yet, so caches revalidate after five minutes.
    maxAge: 5 * 60_000,
    setHeaders: (reply) => {
      reply.header("x-content-type-options", "nosniff");
    },
  });

  const altchaDir = altchaExternalDir();
  const vendor: Record<string, string> = {
    "altcha.js": "altcha.js",
    "altcha.css": "altcha.css",
    "worker.js": "worker.js",
  };
  for (const [name, file] of Object.entries(vendor)) {
    // The widget loads its worker from new URL("./worker.js", import.meta.url), i.e. beside altcha.js.
    app.get(`/static/vendor/${name}`, (_req, reply) => {
      reply.header("x-content-type-options", "nosniff");
      return reply.sendFile(file, altchaDir, { maxAge: 60 * 60_000 });
    });
  }

  app.get<{ Querystring: { tenant?: string } }>("/brand.css", async (req, reply) => {
    const slug =
      typeof req.query.tenant === "string" && TENANT_SLUG.test(req.query.tenant)
        ? req.query.tenant
        : undefined;
    const branding = await opts.getBranding(slug);
    return reply
      .type("text/css; charset=utf-8")
      .header("cache-control", "public, max-age=300")
      .header("x-content-type-options", "nosniff")
      .send(brandCss(branding.primaryColour));
  });

  app.get(CAPTCHA_CHALLENGE_PATH, async (_req, reply) => {
    const challenge = await opts.captcha.challenge();
    return reply.header("cache-control", "no-store").send(challenge);
  });

  if (opts.demoMode) {
    app.get("/demo/outbox", async (req, reply) => {
      const lang = negotiateLocale(req.headers["accept-language"]);
      const t = translator(lang);
      const messages = opts.demoOutbox ? await opts.demoOutbox.list() : [];
      const items = messages.map(
        (m) => html`<article class="demo-message">
${definitionList([
  { term: t("demo.outbox.channel"), description: m.channel },
  { term: t("demo.outbox.to"), description: m.to },
  ...(m.subject ? [{ term: t("demo.outbox.subject"), description: m.subject }] : []),
  { term: t("demo.outbox.sent_at"), description: new Date(m.sentAt).toISOString() },
])}
<pre>${m.text}</pre>
</article>
`,
      );
      const body = html`<h1>${t("demo.outbox.title")}</h1>
<p>${t("demo.outbox.lead")}</p>
<p><a href="/demo/outbox">${t("demo.outbox.refresh")}</a></p>
${items.length ? items : html`<p>${t("demo.outbox.empty")}</p>`}`;
      return sendPage(
        reply,
        renderPage({ title: t("demo.outbox.title"), lang, branding: await opts.getBranding(), body }),
      );
    });
  }
};
