/*
 * Progressive enhancement for the new-password page (plain ES2020, no build step, no inline handlers):
 * - live rule checking: on input (debounced 250 ms) the candidate password is POSTed as JSON to the
 *   form's data-check-url, with the CSRF token from the form's hidden field in the x-csrf-token header;
 *   the answer { rules: [{ id, ok, message }] } updates the checklist and one polite status sentence;
 * - "Show password" buttons (rendered hidden; shown here because they need JavaScript).
 * Without JavaScript the server checks the same rules on submit.
 */

(() => {
  const DEBOUNCE_MS = 250;

  function setRule(container, item, ok, message) {
    const state = ok === true ? "ok" : ok === false ? "fail" : "unknown";
    item.dataset.state = state;
    const stateEl = item.querySelector(".rule-state");
    if (stateEl)
      stateEl.textContent = container.dataset[`text${state[0].toUpperCase()}${state.slice(1)}`] || "";
    const textEl = item.querySelector(".rule-text");
    if (textEl && typeof message === "string" && message) textEl.textContent = message;
  }

  function ruleItem(container, id) {
    const list = container.querySelector("ul");
    for (const li of container.querySelectorAll("li[data-rule]")) if (li.dataset.rule === id) return li;
    // A rule the page did not list (the server knows best): add it, built from text nodes only.
    const li = document.createElement("li");
    li.className = "password-rule";
    li.id = `${container.id}-${id}`;
    li.dataset.rule = id;
    const state = document.createElement("span");
    state.className = "rule-state";
    const text = document.createElement("span");
    text.className = "rule-text";
    li.append(state, " ", text);
    list?.append(li);
    return li;
  }

  function setStatus(container, text) {
    const status = container.querySelector("[role=status]");
    if (status && status.textContent !== text) status.textContent = text;
  }

  function summary(container, failing) {
    if (failing === 0) return container.dataset.textSummaryOk || "";
    const lang = document.documentElement.lang || "en";
    const form = new Intl.PluralRules(lang).select(failing) === "one" ? "One" : "Other";
    return (container.dataset[`textSummary${form}`] || "").replace("{{count}}", String(failing));
  }

  function resetRules(container) {
    for (const li of container.querySelectorAll("li[data-rule]")) setRule(container, li, null);
    setStatus(container, "");
  }

  function enhanceChecker(form) {
    const url = form.dataset.checkUrl;
    const input = form.querySelector("input[data-password-check]");
    if (!url || !input) return;
    const container = document.getElementById(input.dataset.passwordCheck);
    if (!container) return;
    const csrf = form.querySelector("input[name=_csrf]")?.value || "";
    let timer = 0;
    let sequence = 0;
    let controller = null;

    async function check() {
      const mine = ++sequence;
      controller?.abort();
      const password = input.value;
      if (!password) {
        resetRules(container);
        return;
      }
      controller = new AbortController();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": csrf },
          body: JSON.stringify({ password }),
          credentials: "same-origin",
          cache: "no-store",
          signal: controller.signal,
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const verdict = await response.json();
        if (mine !== sequence) return; // a newer check is on its way
        if (!verdict || !Array.isArray(verdict.rules)) throw new Error("unexpected answer");
        let failing = 0;
        for (const rule of verdict.rules) {
          if (!rule || typeof rule.id !== "string") continue;
          if (rule.ok !== true) failing++;
          setRule(container, ruleItem(container, rule.id), rule.ok === true, rule.message);
        }
        setStatus(container, summary(container, failing));
      } catch (error) {
        if (error && error.name === "AbortError") return;
        if (mine !== sequence) return;
        resetRules(container);
        setStatus(container, container.dataset.textUnavailable || "");
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(check, DEBOUNCE_MS);
    });
  }

  function enhanceToggle(button) {
    const input = document.getElementById(button.dataset.togglePassword);
    if (!input) return;
    const status = document.getElementById(`${input.id}-toggle-status`);
    button.hidden = false;
    button.addEventListener("click", () => {
      const show = input.type === "password";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", String(show));
      button.textContent = show ? button.dataset.labelHide : button.dataset.labelShow;
      if (status) status.textContent = show ? button.dataset.statusShown : button.dataset.statusHidden;
    });
    // Never submit (or let the browser remember) the password as visible text.
    input.form?.addEventListener("submit", () => {
      if (input.type !== "password") {
        input.type = "password";
        button.setAttribute("aria-pressed", "false");
        button.textContent = button.dataset.labelShow;
      }
    });
  }

  function init() {
    for (const form of document.querySelectorAll("form[data-check-url]")) enhanceChecker(form);
    for (const button of document.querySelectorAll("button[data-toggle-password]")) enhanceToggle(button);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
