/* Shared by every page: sign-in (token in sessionStorage), JSON API calls, relative times.
 *
 * Either token works: the service's API token, or an account token, which reaches only its own
 * account (another account answers 404, as if it did not exist). The token never goes into a
 * URL or a cookie: it is kept in this tab's sessionStorage and sent as "Authorization: Bearer"
 * by fetch. Data is always put into the page with textContent (never innerHTML), so nothing the
 * API returns can run as markup.
 */
"use strict";

window.Pages = (() => {
  const TOKEN_KEY = "wa-sessions.api-token";
  const body = document.body;
  const account = body.dataset.account;
  const base = `/v1/accounts/${encodeURIComponent(account)}`;

  const $ = (id) => document.getElementById(id);

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class SignedOut extends Error {}

  /** Call the JSON API; resolves to {status, ok, data}. A 401 signs the tab out. */
  async function api(method, path, payload) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${token() || ""}` };
    const init = { method, headers, cache: "no-store" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { status: 0, ok: false, data: { detail: "The service could not be reached." } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (response.status === 401) {
      signOut("Your token was not accepted. Sign in again.");
      throw new SignedOut();
    }
    return { status: response.status, ok: response.ok, data };
  }

  /** The text of an error answer, whatever its shape. */
  function detail(result) {
    const d = result.data && result.data.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => e.msg).join("; ");
    return `The request failed (HTTP ${result.status}).`;
  }

  function showPageError(message) {
    const el = $("page-error");
    el.textContent = message || "";
    el.hidden = !message;
  }

  function setFieldError(input, errorEl, message) {
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  let onReady = null;

  function showSignIn(message) {
    $("content").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    setFieldError($("api-token"), $("api-token-error"), message);
    $("api-token").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    showPageError("");
    showSignIn(message);
  }

  /** Check the token against the account, then show the page and hand over to it. */
  async function enter() {
    let result;
    try {
      result = await api("GET", base);
    } catch (err) {
      if (err instanceof SignedOut) return;
      throw err;
    }
    $("signin").hidden = true;
    $("signout").hidden = false;
    if (result.status === 404) {
      showPageError(`Account "${account}" does not exist. Create it with PUT ${base} or choose another account above.`);
      return;
    }
    if (!result.ok) {
      showPageError(detail(result));
      return;
    }
    showPageError("");
    $("content").hidden = false;
    if (onReady) await guard(() => onReady(result.data));
  }

  /** Run an async page action; a sign-out raised inside it is not an error. */
  async function guard(action) {
    try {
      return await action();
    } catch (err) {
      if (!(err instanceof SignedOut)) {
        showPageError("Something went wrong in this page; reload to try again.");
        console.error(err);
      }
      return undefined;
    }
  }

  /** Register the page's start function (called once signed in, with the account). */
  function start(ready) {
    onReady = ready;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("api-token").value.trim();
      if (!value) {
        setFieldError($("api-token"), $("api-token-error"), "Enter the API token or an account token.");
        $("api-token").focus();
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value);
      $("api-token").value = "";
      setFieldError($("api-token"), $("api-token-error"), "");
      enter();
    });
    $("signout").addEventListener("click", () => signOut(""));
    if (token()) enter();
    else showSignIn("");
  });

  // -- times ----------------------------------------------------------------------------------

  /** "in 3 h", "12 min ago", "just now" — short, for tables. */
  function relative(iso, now = Date.now()) {
    if (!iso) return "—";
    const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
    const abs = Math.abs(seconds);
    let amount;
    if (abs < 45) return seconds >= 0 ? "in a few seconds" : "just now";
    if (abs < 90 * 60) amount = `${Math.max(1, Math.round(abs / 60))} min`;
    else if (abs < 48 * 3600) amount = `${Math.round(abs / 3600)} h`;
    else amount = `${Math.round(abs / 86400)} d`;
    return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
  }

  function absolute(iso) {
    return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  /** A <time> showing a relative time, the exact one in its title; refreshed by refreshTimes. */
  function timeElement(iso) {
    if (!iso) {
      const none = document.createElement("span");
      none.textContent = "—";
      return none;
    }
    const el = document.createElement("time");
    el.dateTime = iso;
    el.title = absolute(iso);
    el.textContent = relative(iso);
    return el;
  }

  function refreshTimes(root = document) {
    const now = Date.now();
    for (const el of root.querySelectorAll("time[datetime]")) {
      el.textContent = relative(el.dateTime, now);
    }
  }
  setInterval(() => refreshTimes(), 30000);

  /** A new element with text content and classes. */
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function phone(waId) {
    return waId ? `+${waId}` : "";
  }

  return { account, base, api, detail, guard, start, showPageError, setFieldError, relative, timeElement, refreshTimes, el, phone, $ };
})();
