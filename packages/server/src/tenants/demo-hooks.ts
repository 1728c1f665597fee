/**
 * The hook point of the demo seed. Each entry runs after the demo tenant and users exist, on every
 * `latchkey demo` start, and must be idempotent. Verification methods add their demo registrations
 * here, so the demo can show a whole reset.
 */
import type { DemoSeedHook } from "./demo.js";
import { seedDemoMethods } from "./demo-methods.js";

export const demoSeedHooks: DemoSeedHook[] = [seedDemoMethods];
