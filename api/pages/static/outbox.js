/* The outbox page: what the sandbox Graph API received for this account, refreshed by itself. */
"use strict";

(() => {
  const { api, detail, guard, timeElement, el, $ } = window.Pages;
  const REFRESH_MS = 5000;

  let phoneNumberId = null;
  let timer = null;

  function item(message) {
    const li = el("li");
    const meta = el("div", undefined, "meta");
    // A customer who hides their number behind a username is sent to by BSUID (recipient).
    const to = message.to ? `To ${message.to}` : `To ${message.user_id} (BSUID)`;
    meta.append(el("span", to, "to"), timeElement(message.received_at));
    if (message.answered_status !== 200) {
      meta.append(el("span", `answered HTTP ${message.answered_status}`, "badge badge-failed"));
    }
    if (message.callback_data) meta.append(el("span", `reminder ${message.callback_data}`, "mono"));
    if (message.kind === "template" && message.template) {
      meta.append(el("span", "template", "badge"));
      li.append(meta, templateBubble(message.template));
    } else {
      li.append(meta, el("p", message.body, "bubble"));
    }
    return li;
  }

  // The sandbox does not know a template's wording, only what was sent: its name and language,
  // then the body's parameters in order, as {{1}}, {{2}}… of the approved text. One per line
  // (the bubble keeps line breaks), all as text nodes: parameters come from contacts.
  function templateBubble(template) {
    const bubble = el("div", undefined, "bubble template");
    bubble.append(el("span", `${template.name} (${template.language})`, "mono template-name"));
    const parameters = template.parameters || [];
    parameters.forEach((text, index) => {
      bubble.append("\n", el("span", `{{${index + 1}}}`, "mono"), ` ${text}`);
    });
    if (parameters.length === 0) bubble.append(el("span", "no parameters", "sub")); // a block
    return bubble;
  }

  async function load() {
    const status = $("outbox-status");
    const list = $("outbox-list");
    const query = phoneNumberId ? `?phone_number_id=${encodeURIComponent(phoneNumberId)}` : "";
    const result = await api("GET", `/v1/sandbox/messages${query}`);
    if (!result.ok) {
      list.hidden = true;
      if (result.status === 404) {
        status.textContent =
          "This service is not in sandbox mode: messages go to the real WhatsApp Cloud API, so there is no outbox to show.";
      } else if (result.status === 403) {
        // The sandbox records every account's messages: an account token may not read them.
        status.textContent = "The sandbox outbox needs the service's API token; an account token cannot read it.";
      } else {
        status.textContent = detail(result);
      }
      return result.status !== 404 && result.status !== 403;
    }
    const items = result.data.items;
    list.replaceChildren(...items.map(item));
    list.hidden = items.length === 0;
    status.textContent = items.length
      ? `${items.length} message${items.length === 1 ? "" : "s"} received by the sandbox.`
      : "The sandbox has received no message for this account yet.";
    return true;
  }

  async function refresh() {
    clearTimeout(timer);
    const again = await load();
    // Poll only while the sandbox is there and the tab is visible.
    if (again) timer = setTimeout(() => guard(refresh), REFRESH_MS);
  }

  window.Pages.start(async (account) => {
    phoneNumberId = account.phone_number_id;
    await refresh();
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("outbox-refresh").addEventListener("click", () => guard(refresh));
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(timer);
      else if (phoneNumberId !== null) guard(refresh);
    });
  });
})();
