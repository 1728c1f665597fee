/** Browser-test helpers: Chromium, axe, the 360 px check, keyboard-only navigation, CSP watching. */
export { A11Y_TAGS, type A11yOptions, checkA11y, formatViolations } from "./a11y.js";
export { CHROMIUM_ARGS, CHROMIUM_PATH, launchBrowser } from "./browser.js";
export { type CspWatch, watchCsp } from "./csp.js";
export { describeFocus, type TabOptions, tabAndEnter, tabAndSpace, tabAndType, tabTo } from "./keyboard.js";
export {
  accessible,
  captchaSolved,
  errorSummary,
  fillSignIn,
  heading,
  ldapsBind,
  press,
  totpNow,
  useBrowser,
  virtualAuthenticator,
} from "./pages.js";
export { at360, horizontalOverflow, NARROW, type OverflowReport } from "./viewport.js";
