/*
 * Passkey ceremonies in the browser (no inline script: the strict CSP forbids it). The server puts
 * the WebAuthn options on a hidden button: data-passkey-options (use a passkey: the reset gate and
 * the step-up) or data-passkey-registration-options (create one). This script shows the button;
 * a press runs the ceremony with @simplewebauthn/browser (loaded before this file as
 * window.SimpleWebAuthnBrowser), puts the browser's answer as JSON in a hidden "passkey" field of
 * the button's form and submits it. The server verifies everything; this file only carries data.
 */
(() => {
  const lib = window.SimpleWebAuthnBrowser;
  if (!lib?.browserSupportsWebAuthn()) return;

  function status(form, text) {
    let el = form.querySelector("[data-passkey-status]");
    if (!el) {
      el = document.createElement("p");
      el.setAttribute("data-passkey-status", "");
      el.setAttribute("role", "alert");
      el.className = "field-error-message";
      form.insertBefore(el, form.firstChild.nextSibling);
    }
    el.textContent = text;
  }

  function wire(button, kind) {
    const form = button.closest("form");
    const raw = button.getAttribute(
      kind === "get" ? "data-passkey-options" : "data-passkey-registration-options",
    );
    let optionsJSON;
    try {
      optionsJSON = JSON.parse(raw || "null");
    } catch {
      return;
    }
    if (!form || !optionsJSON) return;
    button.hidden = false;
    // Without a passkey the code field (if any) is not needed; the form's own submit button stays.
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const answer =
          kind === "get"
            ? await lib.startAuthentication({ optionsJSON })
            : await lib.startRegistration({ optionsJSON });
        let field = form.querySelector('input[name="passkey"]');
        if (!field) {
          field = document.createElement("input");
          field.type = "hidden";
          field.name = "passkey";
          form.appendChild(field);
        }
        field.value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        button.disabled = false;
        status(form, button.getAttribute("data-passkey-failed") || e?.message || "Passkey failed");
      }
    });
  }

  for (const b of document.querySelectorAll("button[data-passkey-options]")) wire(b, "get");
  for (const b of document.querySelectorAll("button[data-passkey-registration-options]")) wire(b, "create");
})();
