/**
 * The portal's composition root: builds the reset flow and everything it stands on (methods,
 * throttles, captcha, password policy, outbox and its transports) from the loaded configuration,
 * and returns the fastify plugins that serve it. `latchkey serve` and `latchkey demo` call this once.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { type Account, createAccount } from "../account/index.js";
import { createAdmin } from "../admin/index.js";
import type { AuditSink } from "../audit/emitter.js";
import type { LoadedConfig } from "../config/load.js";
import { readSecretFile } from "../config/secret-file.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { cryptoRandom, type Random } from "../core/random.js";
import type { AgentRegistry } from "../directory-link/registry.js";
import { registrationApiRoutes } from "../flows/registration/api-routes.js";
import { registrationPages } from "../flows/registration/pages.js";
import { RegistrationService } from "../flows/registration/service.js";
import { resetApiRoutes } from "../flows/reset/api-routes.js";
import {
  CloudPasswordSetter,
  inCloudHistory,
  revokeAllSessions,
} from "../flows/reset/cloud-password-setter.js";
import { resetOpenApi } from "../flows/reset/openapi.js";
import { resetPages } from "../flows/reset/pages.js";
import type { PasswordSetter } from "../flows/reset/password-setter.js";
import { ResetService } from "../flows/reset/service.js";
import type { Logger } from "../logging/logger.js";
import { relyingPartyResolver } from "../methods/passkey/relying-party.js";
import { createMethods, type MethodRegistry } from "../methods/registry.js";
import type { DemoMessage } from "../notify/demo.js";
import { Outbox, OutboxWorker } from "../notify/outbox.js";
import { createTransports, type PhoneProviderOptions } from "../notify/transports.js";
import {
  type BreachedChecker,
  createHibpRangeChecker,
  createPasswordChecker,
  createWorkerStrengthEstimator,
  OfflineBreachedFilter,
  type PasswordChecker,
} from "../password-policy/index.js";
import type { Store } from "../store/db.js";
import type { Tenant } from "../store/schema.js";
import { findTenant } from "../tenants/seed.js";
import { Throttle } from "../throttle/throttle.js";
import { type Captcha, createCaptcha, throttleTableUsedStore } from "../web/altcha.js";
import { webPlugin } from "../web/plugin.js";
import { createWritebackBus } from "../writeback/bus.js";
import { operationEndFromStore, outboxPendingNotifier } from "../writeback/notify.js";
import { AgentPasswordSetter } from "../writeback/password-setter.js";
import { type WritebackOptions, WritebackService } from "../writeback/service.js";

export interface PortalDeps {
  loaded: LoadedConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  audit: AuditSink;
  random?: Random;
  /** Proof-of-work difficulty (altcha maxNumber); tests lower it. */
  captchaMaxNumber?: number;
  /** Outbox poll interval; tests drain by hand. */
  outboxPollMs?: number;
  /** The directory link's agents: with it, synced users' passwords are written back through them. */
  agentRegistry?: AgentRegistry;
  /** Writeback timings (tests shorten them). */
  writeback?: Partial<WritebackOptions>;
}

export interface Portal {
  plugins: FastifyPluginAsync[];
  service: ResetService;
  outbox: Outbox;
  worker: OutboxWorker;
  methods: MethodRegistry;
  captcha: Captcha;
  passwords: PasswordChecker;
  throttle: Throttle;
  /** Password operations through agents; null without an agent registry. */
  writeback: WritebackService | null;
  /** "My account": sessions, the account guard, sign-in and password change (account/index.ts). */
  account: Account;
  /** The demo transport's list (demo mode only). */
  demoMessages: (() => DemoMessage[]) | null;
  start(): void;
  close(): Promise<void>;
}

function phoneOptions(p: LoadedConfig["config"]["sms"]): PhoneProviderOptions | null {
  if (p.type === "none") return null;
  if (p.type === "http") {
    const headers: Record<string, string> = { ...p.headers };
    for (const [name, file] of Object.entries(p.headerFiles))
      headers[name] = readSecretFile(file, `headerFiles.${name}`);
    return {
      type: "http",
      url: p.url,
      method: p.method,
      headers,
      bodyTemplate: p.bodyTemplate,
      contentType: p.contentType,
    };
  }
  return {
    type: "twilio",
    accountSid: p.accountSid,
    authToken: readSecretFile(p.authTokenFile, "authTokenFile"),
    from: p.from,
    baseUrl: p.url,
  };
}

export async function createPortal(deps: PortalDeps): Promise<Portal> {
  const { loaded, store, clock, audit } = deps;
  const { config, secrets } = loaded;
  const random = deps.random ?? cryptoRandom;
  const db = store.db;

  const created = createTransports({
    smtp: config.smtp
      ? {
          host: config.smtp.host,
          port: config.smtp.port,
          secure: config.smtp.secure,
          startTls: config.smtp.startTls,
          from: config.smtp.from,
          ...(config.smtp.caFile ? { caFile: config.smtp.caFile } : {}),
          ...(config.smtp.auth
            ? {
                user: config.smtp.auth.user,
                password: readSecretFile(config.smtp.auth.passwordFile, "smtp.auth"),
              }
            : {}),
        }
      : null,
    sms: phoneOptions(config.sms),
    voice: phoneOptions(config.voice),
    demo: config.demo,
    clock,
  });
  const outbox = new Outbox({ db, clock, secrets, random, audit, logger: deps.logger });
  const worker = new OutboxWorker({
    db,
    engine: store.engine,
    clock,
    secrets,
    transports: created.transports,
    audit,
    logger: deps.logger,
    outbox,
    ...(deps.outboxPollMs !== undefined ? { pollIntervalMs: deps.outboxPollMs } : {}),
  });

  const throttle = new Throttle(db, clock);
  const methods = createMethods({
    db,
    clock,
    random,
    secrets,
    enqueue: async (m) => void (await outbox.enqueue(m)),
  });
  const captcha = createCaptcha({
    hmacKey: secrets.hmacKey,
    clock,
    usedStore: throttleTableUsedStore(db, { clock }),
    ...(deps.captchaMaxNumber !== undefined ? { maxNumber: deps.captchaMaxNumber } : {}),
  });

  const strength = createWorkerStrengthEstimator();
  let offline: BreachedChecker | undefined;
  if (config.breached.offlineFile) offline = await OfflineBreachedFilter.load(config.breached.offlineFile);
  const passwords = createPasswordChecker({
    strength,
    breached: { offline, hibp: createHibpRangeChecker() },
  });

  const writeback = deps.agentRegistry
    ? new WritebackService({
        db,
        clock,
        logger: deps.logger,
        audit,
        registry: deps.agentRegistry,
        random,
        notifyPending: outboxPendingNotifier({
          db,
          outbox,
          audit,
          // The reset flow is built below (its setters need this service): bound late.
          completeFlow: (p) => service.completePending(p),
        }),
        ...(deps.writeback ? { options: deps.writeback } : {}),
        // Several instances on PostgreSQL wake each other with LISTEN/NOTIFY; SQLite: in memory.
        bus: createWritebackBus({ engine: store.engine, url: config.database.url, db, logger: deps.logger }),
      })
    : null;
  const setters: PasswordSetter[] = [
    new CloudPasswordSetter(db, clock),
    ...(writeback ? [new AgentPasswordSetter(writeback)] : []),
  ];
  const service = new ResetService({
    db,
    secrets,
    clock,
    random,
    audit,
    methods,
    throttle,
    captcha,
    passwords,
    setters,
    outbox,
    inHistory: (user, password, depth) => inCloudHistory(db, user, password, depth),
    revokeSessions: (user) => revokeAllSessions(db, clock, user),
    operationEnd: operationEndFromStore(db),
  });

  const tenantSlug = config.tenant.slug;
  async function getTenant(_req: FastifyRequest): Promise<Tenant> {
    // One tenant per deployment for now; host-based tenant routing comes with the admin console.
    const tenant = await findTenant(db, tenantSlug);
    if (!tenant) throw new LatchkeyError("NOT_FOUND", `tenant ${tenantSlug} missing`);
    return tenant;
  }
  const cookie = { secure: config.server.cookieSecure, maxAgeSeconds: 60 * 60 };
  const account = createAccount({
    store,
    clock,
    random,
    secrets,
    audit,
    throttle,
    captcha,
    methods,
    passwords,
    outbox,
    writeback,
    getTenant,
    cookieSecure: config.server.cookieSecure,
    ruleList: (tenant) =>
      passwords
        .describe(parseTenantSettings(tenant.settings_json).password, { history: true })
        .map((r) => ({ id: r.id, messageId: r.messageId, params: r.params })),
  });

  // Registration of verification methods in "my account" (flows/registration).
  const relyingParty = relyingPartyResolver(config.server.publicUrl);
  const registration = new RegistrationService({
    db,
    clock,
    random,
    secrets,
    audit,
    methods,
    throttle,
    enqueue: async (m) => void (await outbox.enqueue(m)),
    sessions: account.sessions,
  });

  const portalPlugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    await app.register(webPlugin, {
      async getBranding() {
        const tenant = await findTenant(db, tenantSlug);
        return parseTenantSettings(tenant?.settings_json ?? "{}").branding;
      },
      captcha,
      demoMode: config.demo,
      ...(created.demo
        ? {
            demoOutbox: {
              list: () => (created.demo?.list() ?? []).map((m) => ({ ...m, sentAt: m.deliveredAt })),
            },
          }
        : {}),
    });
    await app.register(resetApiRoutes, { service, getTenant, cookie });
    await app.register(resetPages, {
      service,
      clock,
      getTenant,
      cookie,
      ruleList: (tenant) =>
        passwords
          .describe(parseTenantSettings(tenant.settings_json).password, { history: true })
          .map((r) => ({ id: r.id, messageId: r.messageId, params: r.params })),
    });
    await app.register(account.plugin);
    await app.register(registrationPages, {
      service: registration,
      guard: account.guard,
      relyingParty,
      clock,
    });
    await app.register(registrationApiRoutes, { service: registration, guard: account.guard, relyingParty });
    // The explainer's admin pages (admin/): administrators only, behind the account guard.
    await app.register(createAdmin({ store, config, methods, clock, accountGuard: account.guard }).plugin);
    app.get("/api/v1/openapi.json", async () => resetOpenApi());
    app.get("/", async (_req, reply) => reply.redirect("/reset", 302));
  };

  return {
    plugins: [portalPlugin],
    service,
    outbox,
    worker,
    methods,
    captcha,
    passwords,
    throttle,
    writeback,
    account,
    demoMessages: created.demo ? () => created.demo?.list() ?? [] : null,
    start() {
      worker.start();
      writeback?.start();
    },
    async close() {
      // Operations still running (pending ones) finish first: their result emails go to the outbox.
      await writeback?.close();
      await worker.stop();
      await strength.close();
      await created.close();
    },
  };
}
