/**
 * The hook point of the demo seed. Each entry runs after the demo tenant and users exist, on every
 * `latchkey demo` start, and must be idempotent. Verification methods add their demo registrations
 * here (e.g. an email method for alice, TOTP for bob), so the demo can show a whole reset.
 */
import type { DemoSeedHook } from "./demo.js";

export const demoSeedHooks: DemoSeedHook[] = [];
