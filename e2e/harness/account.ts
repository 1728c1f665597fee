/**
 * The account area's JSON sign-in as the API tests drive it (password with a solved captcha, then
 * the second factor's challenge and verify under the flow's CSRF token), and a cloud account put
 * straight into the store for tests that start a bare server.
 */
import { expect } from "vitest";
import { hashPassword } from "../../packages/server/src/core/password-hash.js";
import { newId } from "../../packages/server/src/core/random.js";
import type { Store } from "../../packages/server/src/store/db.js";
import type { HttpClient } from "./client.js";

/** The sign-in's answer: signed in (with the session's CSRF token) or a second factor to pass (with the flow's). */
export interface JsonSignInAnswer {
  status: string;
  csrfToken: string;
  interrupt: string | null;
  flow: { csrf: string };
}

/** Posts the password to the JSON sign-in and expects 200. */
export async function postSignIn(
  client: HttpClient,
  username: string,
  password: string,
  captcha: string,
): Promise<JsonSignInAnswer> {
  const res = await client.post("/api/v1/account/sign-in", { json: { username, password, captcha } });
  expect(res.status, res.text).toBe(200);
  return JSON.parse(res.text) as JsonSignInAnswer;
}

/**
 * Passes the sign-in's second factor with `method`: asks for the challenge, builds the response
 * from it with `respond`, verifies, and expects the session to be signed in.
 */
export async function passSecondFactor(
  client: HttpClient,
  flowCsrf: string,
  method: string,
  // biome-ignore lint/suspicious/noExplicitAny: the challenge's shape is the method's; each caller reads its own part.
  respond: (challenge: any) => unknown,
): Promise<void> {
  const headers = { "x-csrf-token": flowCsrf };
  const challenge = await client.post("/api/v1/account/sign-in/second-factor/challenge", {
    json: { method },
    headers,
  });
  expect(challenge.status, challenge.text).toBe(200);
  const verified = await client.post("/api/v1/account/sign-in/second-factor/verify", {
    json: { response: respond(JSON.parse(challenge.text)) },
    headers,
  });
  expect(verified.status, verified.text).toBe(200);
  expect(JSON.parse(verified.text).status).toBe("signed_in");
}

/** Inserts an enabled, in-scope cloud account with `password` (hashed) and an @example.test address; returns its id. */
export async function insertCloudUser(
  store: Store,
  tenantId: string,
  user: { username: string; password: string; givenName: string; surname: string },
): Promise<string> {
  const id = newId();
  const now = Date.now();
  await store.db
    .insertInto("users")
    .values({
      id,
      tenant_id: tenantId,
      kind: "cloud",
      username: user.username,
      upn: `${user.username}@example.test`,
      email: `${user.username}@example.test`,
      display_name: `${user.givenName} ${user.surname}`,
      given_name: user.givenName,
      surname: user.surname,
      mobile: null,
      office_phone: null,
      enabled: 1,
      locked: 0,
      is_admin: 0,
      in_scope: 1,
      source_anchor: null,
      directory_id: null,
      password_hash: await hashPassword(user.password),
      password_changed_at: now,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}

/** The types of the confirmed methods among `rows`, sorted. */
export function confirmedTypes(rows: readonly { type: string; confirmed_at: number | null }[]): string[] {
  return rows
    .filter((r) => r.confirmed_at !== null)
    .map((r) => r.type)
    .sort();
}
