/**
 * "My account": builds the sessions, the guard, sign-in and password change from what the portal
 * already has (store, throttles, captcha, methods, password policy, outbox, writeback), and returns
 * one fastify plugin with their pages and JSON API. portal/index.ts calls it once; the
 * method-registration pages use `guard` and `sessions` from here.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import type { AuditSink } from "../audit/emitter.js";
import type { MethodType } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import type { Random } from "../core/random.js";
import type { ServerSecrets } from "../core/secrets.js";
import { changePages } from "../flows/change/pages.js";
import { ChangeService } from "../flows/change/service.js";
import { CloudPasswordSetter } from "../flows/reset/cloud-password-setter.js";
import type { CaptchaPort, EnqueuePort, PasswordCheckPort, ThrottlePort } from "../flows/reset/ports.js";
import { signInPages } from "../flows/sign-in/pages.js";
import { SECOND_FACTOR_TYPES, SignInService } from "../flows/sign-in/service.js";
import type { VerificationMethod } from "../methods/types.js";
import type { Store } from "../store/db.js";
import type { Tenant } from "../store/schema.js";
import type { WritebackService } from "../writeback/service.js";
import { accountApiRoutes } from "./api-routes.js";
import { type AccountGuard, accountGuard } from "./guard.js";
import type { RuleList } from "./page-helpers.js";
import { accountPages } from "./pages.js";
import { SessionService } from "./sessions.js";

export interface AccountDeps {
  store: Store;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
  audit: AuditSink;
  throttle: ThrottlePort;
  captcha: CaptchaPort;
  methods: Partial<Record<MethodType, VerificationMethod>>;
  passwords: PasswordCheckPort;
  outbox: EnqueuePort;
  writeback: WritebackService | null;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookieSecure: boolean;
  ruleList: RuleList;
}

export interface Account {
  plugin: FastifyPluginAsync;
  sessions: SessionService;
  guard: AccountGuard;
  signIn: SignInService;
  change: ChangeService;
}

export function createAccount(deps: AccountDeps): Account {
  const db = deps.store.db;
  const sessions = new SessionService({ db, clock: deps.clock, random: deps.random });
  const guard = accountGuard({ db, sessions, getTenant: deps.getTenant });
  const change = new ChangeService({
    db,
    clock: deps.clock,
    random: deps.random,
    secrets: deps.secrets,
    audit: deps.audit,
    throttle: deps.throttle,
    passwords: deps.passwords,
    sessions,
    outbox: deps.outbox,
    cloud: new CloudPasswordSetter(db, deps.clock),
    writeback: deps.writeback,
  });
  const signIn = new SignInService({
    db,
    clock: deps.clock,
    random: deps.random,
    secrets: deps.secrets,
    audit: deps.audit,
    throttle: deps.throttle,
    captcha: deps.captcha,
    methods: deps.methods,
    sessions,
    change,
    writeback: deps.writeback,
  });
  const cookie = { secure: deps.cookieSecure };

  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    await app.register(signInPages, {
      signIn,
      sessions,
      clock: deps.clock,
      getTenant: deps.getTenant,
      cookie,
    });
    await app.register(changePages, {
      change,
      guard,
      getTenant: deps.getTenant,
      cookie,
      ruleList: deps.ruleList,
    });
    await app.register(accountPages, {
      guard,
      sessions,
      audit: deps.audit,
      cookie,
      async methodCount(s) {
        const rows = await db
          .selectFrom("auth_methods")
          .selectAll()
          .where("tenant_id", "=", s.tenant.id)
          .where("user_id", "=", s.user.id)
          .execute();
        const types = [...SECOND_FACTOR_TYPES, "questions" as const];
        return types.filter((t) => deps.methods[t]?.isRegistered(rows)).length;
      },
    });
    await app.register(accountApiRoutes, {
      guard,
      sessions,
      signIn,
      change,
      getTenant: deps.getTenant,
      cookie,
      ruleList: deps.ruleList,
    });
  };
  return { plugin, sessions, guard, signIn, change };
}
