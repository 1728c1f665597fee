/*
 * Latchkey portal: small enhancements shared by every page. Pages work without this file.
 * - Error summary links move focus to the field itself (a plain #fragment only scrolls) and bring
 *   its label or legend into view, as the GOV.UK error summary does.
 * - The error summary gets focus on load where `autofocus` was not honoured.
 */

(() => {
  function labelFor(input) {
    const fieldset = input.closest("fieldset");
    const legend = fieldset?.querySelector("legend");
    if (legend && (input.type === "radio" || input.type === "checkbox")) return legend;
    return (input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`)) || input;
  }

  function onSummaryClick(event) {
    const link = event.target.closest("a[href^='#']");
    if (!link) return;
    const target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!target) return;
    const focusable = target.matches("input, select, textarea, button")
      ? target
      : target.querySelector("input:not([type=hidden]), select, textarea, button");
    if (!focusable) return;
    event.preventDefault();
    labelFor(focusable).scrollIntoView();
    focusable.focus({ preventScroll: true });
  }

  function init() {
    const summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.addEventListener("click", onSummaryClick);
    if (document.activeElement === document.body) summary.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
