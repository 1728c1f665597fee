/**
 * The English catalogue: every sentence a person reads, keyed by a stable message id. Other
 * languages copy these keys. Texts are plain text (the page templates escape them), never HTML.
 * Interpolation is i18next's `{{name}}`; plurals use i18next's `_one` / `_other` suffixes with `count`.
 */
export const en = {
  // Shared page chrome
  "common.service_name": "Password reset",
  "common.page_title": "{{page}} – {{organisation}}",
  "common.skip_link": "Skip to main content",
  "common.continue": "Continue",
  "common.back": "Back",
  "common.cancel": "Cancel",
  "common.start_again": "Start again",
  "common.error_summary.title": "There is a problem",
  "common.error_prefix": "Error:",
  "common.optional": "(optional)",
  "common.show_password": "Show password",
  "common.hide_password": "Hide password",
  "common.password_shown": "Your password is shown.",
  "common.password_hidden": "Your password is hidden.",
  "common.helpdesk_heading": "Need help?",
  "common.footer.powered_by": "Self-service password reset by Latchkey",
  "common.page_not_found": "Page not found",
  "common.page_not_found.body": "Check the address, or start again from the password reset page.",

  // The person-facing message of every error code in core/errors.ts (a test keeps them in step)
  "error.page_title": "Something went wrong",
  "error.config_invalid": "The service is not configured correctly. Contact your helpdesk.",
  "error.validation_failed": "Some of the information you entered is not valid. Check it and try again.",
  "error.not_found": "We could not find what you asked for.",
  "error.flow_not_found":
    "We could not find your password reset. It may have been started in another browser. Start again.",
  "error.flow_expired":
    "Your password reset took too long and has expired, so we have not changed anything. Start again.",
  "error.flow_wrong_state": "That step is not available now. Continue from where you were, or start again.",
  "error.csrf_mismatch": "Your session could not be confirmed. Reload the page and try again.",
  "error.captcha_failed": "We could not confirm that you are not a robot. Try the check again.",
  "error.throttled": "Too many attempts. Wait a while and try again.",
  "error.throttled_until": "Too many attempts. You can try again after {{time}}.",
  "error.verification_failed": "That was not accepted. Check it and try again.",
  "error.method_not_available": "That way of confirming it is you cannot be used here. Choose another.",
  "error.password_rejected": "Your new password does not meet the rules. Choose a different password.",
  "error.password_set_failed": "Your password could not be changed. Nothing was changed. Try again later.",
  "error.store_unavailable": "The service is temporarily unavailable. Try again in a few minutes.",
  "error.provider_failed": "We could not send your message. Try again, or choose another way.",
  "error.session_required": "Sign in to continue.",
  "error.step_up_required": "First confirm it is you with one of the ways you already set up.",
  "error.sign_in_failed": "The user name or password is not right. Check them and try again.",
  "error.account_locked": "Your account is locked. You can unlock it by resetting your password.",
  "error.account_disabled": "Your account is disabled. Contact your administrator.",
  "error.old_password_wrong": "Your current password is not right. Check it and try again.",
  "error.directory_unavailable":
    "We could not reach your organisation's directory. Try again in a few minutes.",
  "error.internal": "Something went wrong on our side. Try again later.",
  "error.metrics_forbidden": "The metrics are not available to this client.",

  // What the directory (Active Directory, OpenLDAP) said about a password operation (protocol
  // DIRECTORY_ERRORS); the raw diagnostic is in the audit log, never here.
  "directory.password_too_short":
    "Your organisation's directory needs a longer password. Choose a longer password and try again.",
  "directory.password_complexity":
    "Your organisation's directory needs a more complex password: use at least three of capital letters, small letters, digits and symbols, and do not include your name or user name. Choose another password and try again.",
  "directory.password_quality":
    "Your organisation's directory did not accept this password as strong enough. Choose another password and try again.",
  "directory.password_in_history":
    "You have used this password before in your organisation's directory. Choose a password you have not used before.",
  "directory.password_too_young":
    "Your password was changed too recently to change it again. Try again later, or contact your helpdesk if you cannot wait.",
  "directory.old_password_wrong":
    "Your current password is not right. Type your current password again, or reset your password instead.",
  "directory.must_supply_old_password":
    "Your organisation's directory needs your current password for this change. Type your current password and try again.",
  "directory.account_locked": "Your account is locked. Unlock your account first, or contact your helpdesk.",
  "directory.invalid_credentials": "The user name or password is not right. Check them and try again.",
  "directory.password_must_change":
    "Your password must be changed before you can use it. Set a new password.",
  "directory.password_expired": "Your password has expired. Set a new password.",
  "directory.account_disabled": "Your account is disabled. Contact your helpdesk.",
  "directory.strong_auth_required":
    "Your password could not be changed because of a setting in your organisation's directory. Nothing was changed. Contact your helpdesk.",
  "directory.no_such_object":
    "Your account was not found in your organisation's directory. Nothing was changed. Contact your helpdesk.",
  "directory.insufficient_access":
    "Your password could not be changed because of a permission in your organisation's directory. Nothing was changed. Contact your helpdesk.",
  "directory.timeout":
    "Your organisation's directory did not answer in time. Your password was not changed. Try again in a few minutes.",
  "directory.unreachable":
    "Your organisation's directory cannot be reached right now. Your password was not changed. Try again in a few minutes.",
  "directory.internal":
    "Your organisation's directory could not change your password. Nothing was changed. Try again later, or contact your helpdesk.",
  "writeback.no_agent":
    "Your organisation's directory cannot be reached right now. Your password was not changed. Try again in a few minutes.",
  "writeback.outcome_unknown":
    "We could not confirm whether your password was changed. Try signing in with your new password; if it does not work, use your old one or contact your helpdesk.",

  // The proof-of-work check (the altcha widget's strings, and the text for browsers without JavaScript)
  "captcha.label": "I am not a robot",
  "captcha.verifying": "Checking…",
  "captcha.verified": "Checked",
  "captcha.error": "The check failed. Try again.",
  "captcha.expired": "The check expired. Try again.",
  "captcha.wait": "Checking, please wait…",
  "captcha.required": "Complete the check first.",
  "captcha.js_required_title": "JavaScript is needed",
  "captcha.js_required":
    "This page uses a short automatic check to stop automated attacks, and the check needs JavaScript. Turn on JavaScript in your browser and reload the page, or contact your helpdesk to reset your password.",

  // Reset step 1: identify
  "reset.identify.title": "Reset your password",
  "reset.identify.lead": "Enter your user name and we will help you set a new password.",
  "reset.identify.username.label": "User name or email address",
  "reset.identify.username.hint": "For example, jsmith or jsmith@example.com",
  "reset.identify.error.username_required": "Enter your user name or email address",
  "reset.identify.error.username_too_long": "User name must be {{max}} characters or fewer",
  "reset.identify.error.captcha_required": "Complete the check that you are not a robot",
  "reset.identify.submit": "Continue",

  // Reset step 2: choose a method (guided disclosure) or give a contact (strict disclosure)
  "reset.choose.title": "Choose how to confirm it is you",
  "reset.choose.legend": "How do you want to confirm it is you?",
  "reset.choose.hint": "We will send you a code or ask you a question.",
  "reset.choose.gate": "Step {{gate}} of {{gates}}",
  "reset.choose.second_gate": "Your account needs a second check. Choose a different way.",
  "reset.choose.method.email": "Email a code to {{masked}}",
  "reset.choose.method.sms": "Text a code to {{masked}}",
  "reset.choose.method.voice": "Call {{masked}} and read out a code",
  "reset.choose.method.totp": "Use a code from your authenticator app",
  "reset.choose.method.questions": "Answer your security questions",
  "reset.choose.method.passkey": "Use your passkey",
  "reset.choose.error.required": "Choose how to confirm it is you",
  "reset.choose.strict_hint":
    "If the details you give match our records, we will send you a code or ask you a question.",
  "reset.choose.strict_method.email": "Email",
  "reset.choose.strict_method.sms": "Text message",
  "reset.choose.strict_method.voice": "Phone call",
  "reset.choose.strict_method.totp": "Authenticator app",
  "reset.choose.strict_method.questions": "Security questions",
  "reset.choose.strict_method.passkey": "Passkey",
  "reset.choose.submit": "Continue",
  "reset.strict.title": "Confirm your contact details",
  "reset.strict.lead":
    "Enter the email address or mobile number you registered. If it matches our records, we will send you a code.",
  "reset.strict.contact.label": "Email address or mobile number",
  "reset.strict.contact.hint": "Use the one you registered for password reset",
  "reset.strict.error.contact_required": "Enter your email address or mobile number",

  // Reset step 3: verify
  "reset.code.title": "Enter the code",
  "reset.code.sent.email": "We sent a code to {{masked}}. It has {{digits}} digits.",
  "reset.code.sent.sms": "We sent a code by text message to {{masked}}. It has {{digits}} digits.",
  "reset.code.sent.voice": "We are calling {{masked}} to read out a code. It has {{digits}} digits.",
  "reset.code.sent.strict":
    "If the details you entered match our records, we have sent a code. It has {{digits}} digits.",
  "reset.code.expires": "The code expires at {{time}}.",
  "reset.code.expires_in_one": "The code expires in {{count}} minute.",
  "reset.code.expires_in_other": "The code expires in {{count}} minutes.",
  "reset.code.label": "Code",
  "reset.code.hint": "{{digits}} digits",
  "reset.code.resend": "Send a new code",
  "reset.code.not_received":
    "If the code does not arrive within a few minutes, send a new one or choose another way.",
  "reset.code.error.required": "Enter the code",
  "reset.code.error.format": "Enter the code as {{digits}} digits",
  "reset.code.error.wrong": "The code is not correct. Check it and try again.",
  "reset.code.error.expired": "The code has expired. Send a new code.",
  "reset.code.submit": "Confirm",
  "reset.totp.title": "Enter the code from your authenticator app",
  "reset.totp.label": "Code",
  "reset.totp.hint": "The {{digits}} digits your app shows for this account",
  "reset.questions.title": "Answer your security questions",
  "reset.questions.hint": "Answers are not case sensitive.",
  "reset.questions.error.required": "Answer this question",
  "reset.questions.error.wrong": "One or more answers are not correct.",
  "reset.passkey.title": "Use your passkey",
  "reset.passkey.lead":
    "Your browser will ask you to use your passkey, for example with your fingerprint, face, PIN or security key.",
  "reset.passkey.start": "Use passkey",
  "reset.passkey.js_required":
    "Passkeys need JavaScript. Turn on JavaScript, or go back and choose another way.",
  "reset.passkey.error.failed": "Your passkey could not be used. Try again, or choose another way.",
  "reset.choose_another": "Choose another way",

  // Reset step 5: new password
  "reset.password.title": "Create a new password",
  "reset.password.lead": "Choose a password you do not use anywhere else.",
  "reset.password.new.label": "New password",
  "reset.password.confirm.label": "Confirm new password",
  "reset.password.rules.title": "Your password must:",
  "reset.password.error.required": "Enter a new password",
  "reset.password.error.confirm_required": "Enter your new password again",
  "reset.password.error.mismatch": "The passwords do not match",
  "reset.password.submit": "Change password",
  "reset.password.rule_failed.length": "Your password is too short or too long",
  "reset.password.rule_failed.characters": "Your password contains characters that cannot be used",
  "reset.password.rule_failed.classes": "Your password needs more kinds of characters",
  "reset.password.rule_failed.banned": "Your password is built from common or banned words",
  "reset.password.rule_failed.personal":
    "Your password contains your name, user name or the organisation's name",
  "reset.password.rule_failed.strength": "Your password is too easy to guess",
  "reset.password.rule_failed.breached": "Your password has appeared in a data breach",
  "reset.password.rule_failed.history": "You have used this password before",
  "password.rule.length": "be between {{min}} and {{max}} characters long",
  "password.rule.characters": "not contain control characters or broken Unicode",
  "password.rule.classes":
    "contain at least {{required}} of these: lower-case letters, capital letters, numbers, symbols",
  "password.rule.banned": "not contain common words or the names of products",
  "password.rule.personal": "not contain your name, your user name or the organisation's name",
  "password.rule.strength": "be hard to guess",
  "password.rule.breached": "not be a password known from data breaches",
  "password.rule.history_one": "not be your last password",
  "password.rule.history_other": "not be one of your last {{count}} passwords",
  "password.rule.unavailable": "This check is unavailable right now. Try again in a moment.",
  "password.rules.state.ok": "Done:",
  "password.rules.state.fail": "Not yet:",
  "password.rules.state.unknown": "To check:",
  "password.rules.summary.ok": "Your password meets all the rules.",
  "password.rules.summary.failing_one": "{{count}} rule is not met yet.",
  "password.rules.summary.failing_other": "{{count}} rules are not met yet.",
  "password.rules.summary.unavailable":
    "The rules could not be checked now. They will be checked when you continue.",

  // Reset step 6–7: result
  "reset.done.title": "Your password has been changed",
  "reset.done.body": "You can now sign in with your new password.",
  "reset.done.synced": "It can take a few minutes for the new password to work everywhere.",
  "reset.done.unlocked": "Your account has also been unlocked.",
  "reset.done.email_sent": "We have sent a confirmation to your email address.",
  "reset.refused.title": "Your password was not changed",
  "reset.refused.directory_policy":
    "Your organisation's directory refused the new password, for example because it was used before or was changed too recently. Choose a different password.",
  "reset.refused.directory_unavailable":
    "We could not reach your organisation's directory. Try again in a few minutes.",
  "reset.refused.account_disabled": "Your account is disabled. Contact your helpdesk.",
  "reset.refused.try_again": "Try a different password",
  "password.pending":
    "Your organisation's directory is taking longer than usual. Your new password is still being applied: we will email you the result. Do not try again until you have our email.",
  // Unlock without a reset (a locked account, after the same checks as a reset)
  "reset.locked.title": "Your account is locked",
  "reset.locked.lead":
    "Your account was locked, for example after too many wrong passwords. You can unlock it and keep your current password, or set a new password.",
  "reset.locked.unlock.heading": "Unlock only",
  "reset.locked.unlock.body": "We unlock your account. Your password stays the same.",
  "reset.locked.unlock.submit": "Unlock only",
  "reset.locked.password.heading": "Set a new password",
  "reset.locked.password.unlocks": "Setting a new password also unlocks your account.",
  "reset.locked.password.stays_locked":
    "Setting a new password does not unlock your account: unlock it as well, or ask your helpdesk.",
  "reset.unlocked.title": "Your account is unlocked",
  "reset.unlocked.body": "You can sign in again with your current password. Your password was not changed.",
  "reset.unlock_failed.title": "Your account was not unlocked",
  "unlock.pending":
    "Your organisation's directory is taking longer than usual. Your account is still being unlocked: we will email you the result. Do not try again until you have our email.",
  "reset.pending.title": "We are still working on it",
  "reset.pending.check": "Check again",
  "error.unlock_failed": "Your account could not be unlocked. Nothing was changed. Try again later.",
  "reset.ineligible.title": "You cannot reset your password here",
  "reset.ineligible.body":
    "Your account cannot use self-service password reset at the moment. Contact your helpdesk for help.",
  "reset.ineligible.notified": "We have let your administrator know.",
  "reset.ineligible.notify_button": "Tell my administrator",
  "reset.throttled.title": "Too many attempts",
  "reset.throttled.body_until": "You have tried too many times. You can try again after {{time}}.",
  "reset.start_again": "Start again",
  "reset.expired.title": "Your password reset has expired",

  // "My account": frame, sign-in, sessions, change password (account/, flows/sign-in/, flows/change/)
  "account.nav.label": "My account",
  "account.nav.overview": "Overview",
  "account.nav.methods": "Ways to confirm it is you",
  "account.nav.password": "Change password",
  "account.nav.sessions": "Where you are signed in",
  "account.nav.sign_out": "Sign out",
  "account.signed_in_as": "Signed in as {{name}}",
  "account.overview.title": "Your account",
  "account.overview.lead":
    "Manage the ways you confirm it is you, change your password, and see where you are signed in.",
  "account.overview.methods_one": "You have set up {{count}} way to confirm it is you.",
  "account.overview.methods_other": "You have set up {{count}} ways to confirm it is you.",
  "account.overview.methods_link": "Manage ways to confirm it is you",
  "account.overview.password_changed": "Your password was last changed on {{time}}.",
  "account.overview.password_link": "Change your password",
  "account.overview.sessions_link": "See where you are signed in",
  "account.sign_in.title": "Sign in to your account",
  "account.sign_in.lead":
    "Sign in to set up the ways you confirm it is you, change your password, or see where you are signed in.",
  "account.sign_in.username.label": "User name",
  "account.sign_in.username.hint": "Your user name or email address",
  "account.sign_in.password.label": "Password",
  "account.sign_in.submit": "Sign in",
  "account.sign_in.forgot": "Forgotten your password?",
  "account.sign_in.error.username_required": "Enter your user name",
  "account.sign_in.error.password_required": "Enter your password",
  "account.sign_in.signed_out": "You have signed out.",
  "account.sign_in.session_ended": "Your session has ended. Sign in again.",
  "account.sign_in.second_factor.title": "Confirm it is you",
  "account.sign_in.second_factor.lead":
    "Your account has a second step. Choose how you want to confirm it is you.",
  "account.sign_in.second_factor.legend": "How do you want to confirm it is you?",
  "account.sign_in.second_factor.error.required": "Choose how to confirm it is you",
  "account.sign_in.second_factor.submit": "Continue",
  "account.sign_in.second_factor.verify": "Confirm",
  "account.sign_in.second_factor.other": "Choose another way",
  "account.locked.title": "Your account is locked",
  "account.locked.body":
    "Your account is locked, usually after too many wrong passwords. You can unlock it by resetting your password.",
  "account.locked.link": "Reset your password",
  "account.disabled.title": "Your account is disabled",
  "account.disabled.body": "Your account is disabled. Contact your administrator.",
  "account.password.title": "Change your password",
  "account.password.lead": "Enter your current password, then choose a new one.",
  "account.password.expired.title": "Your password has expired",
  "account.password.expired.lead": "Your password has expired. Choose a new password to continue.",
  "account.password.must_change.title": "Choose a new password",
  "account.password.must_change.lead": "You must choose a new password before you can continue.",
  "account.password.current.label": "Current password",
  "account.password.new.label": "New password",
  "account.password.confirm.label": "New password again",
  "account.password.submit": "Change password",
  "account.password.error.current_required": "Enter your current password",
  "account.password.done.title": "Your password has been changed",
  "account.password.done.body":
    "Use your new password from now on. Everywhere else you were signed in has been signed out, and we have emailed you a confirmation.",
  "account.password.done.continue": "Back to your account",
  "account.password.done.sign_in": "Sign in with your new password",
  "account.sessions.title": "Where you are signed in",
  "account.sessions.lead":
    "These are the browsers signed in to your account. Sign out any you do not recognise, and change your password if you think someone else signed in.",
  "account.sessions.this_browser": "This browser",
  "account.sessions.other_browser": "Another browser",
  "account.sessions.device": "Browser",
  "account.sessions.ip": "Address",
  "account.sessions.created": "Signed in",
  "account.sessions.last_seen": "Last active",
  "account.sessions.unknown": "Unknown",
  "account.sessions.revoke": "Sign out",
  "account.sessions.revoke_context": "the browser signed in on {{time}}",
  "account.sessions.revoke_all": "Sign out everywhere else",
  "account.sessions.revoked": "That browser has been signed out.",
  "account.sessions.revoked_all_one": "{{count}} other browser has been signed out.",
  "account.sessions.revoked_all_other": "{{count}} other browsers have been signed out.",
  "account.sessions.none_other": "You are not signed in anywhere else.",

  // Demo mode only
  "demo.outbox.title": "Demo outbox",
  "demo.outbox.lead": "The messages Latchkey would have sent. This page exists only in demo mode.",
  "demo.outbox.empty": "No messages have been sent yet.",
  "demo.outbox.channel": "Channel",
  "demo.outbox.to": "To",
  "demo.outbox.subject": "Subject",
  "demo.outbox.sent_at": "Sent at",
  "demo.outbox.refresh": "Refresh",
} as const;

/** Every message id in the English catalogue (plural forms listed with their suffix). */
export type EnglishMessageId = keyof typeof en;
