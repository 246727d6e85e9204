/* The sessions page: the account's sessions (filter by state) and the reminder audit trail. */
"use strict";

(() => {
  const { api, base, detail, guard, timeElement, el, phone, $ } = window.Pages;
  const PAGE_SIZE = 25;

  // The audit outcomes grouped as operators read them: sent / skipped / failed (+ why).
  const OUTCOMES = {
    sent: ["sent", "Sent"],
    skipped_disabled: ["skipped", "Reminders were disabled"],
    skipped_window_closed: ["skipped", "The 24-hour window had closed"],
    skipped_customer_replied: ["skipped", "The customer wrote again first"],
    skipped_quiet_hours: ["skipped", "Quiet hours left no moment inside the window"],
    skipped_opted_out: ["skipped", "The customer opted out"],
    failed_window_closed: ["failed", "WhatsApp refused: window closed (131047)"],
    failed: ["failed", ""],
    unknown: ["unknown", "The send may or may not have reached WhatsApp"],
  };

  let nextCursor = null;

  function cell(label, ...children) {
    const td = el("td");
    td.dataset.label = label;
    for (const child of children) if (child) td.append(child);
    return td;
  }

  function badge(text, kind) {
    return el("span", text, `badge badge-${kind || text}`);
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (err) {
      return null;
    }
  }

  // How an item names its customer: the number; else (a username user) the username or BSUID.
  function customerName(item) {
    if (item.wa_id) return phone(item.wa_id);
    return item.username || item.user_id || null;
  }

  function customer(item, fallback) {
    const name = customerName(item);
    if (!name) {
      const unknown = el("span", "unknown contact");
      unknown.title = `conversation ${fallback}`;
      return unknown;
    }
    const span = el("span", name, "mono");
    // Without a number, the BSUID is what names the customer to Meta and to the API.
    if (!item.wa_id && item.user_id) span.title = `BSUID ${item.user_id}`;
    return span;
  }

  function outcomeCell(outcome, reason, errorCode) {
    const [group, description] = OUTCOMES[outcome] || ["unknown", outcome];
    const parts = [badge(group)];
    const why = [reason || (outcome === "sent" ? "" : description), errorCode ? `code ${errorCode}` : ""]
      .filter(Boolean)
      .join(" · ");
    if (why) parts.push(el("span", why, "sub"));
    return parts;
  }

  async function loadSessions() {
    const state = $("state-filter").value;
    const status = $("sessions-status");
    const table = $("sessions-table");
    status.textContent = "Loading sessions…";
    const query = state ? `?state=${encodeURIComponent(state)}` : "";
    const result = await api("GET", `${base}/sessions${query}`);
    const tbody = table.tBodies[0];
    tbody.replaceChildren();
    if (!result.ok) {
      table.hidden = true;
      status.textContent =
        result.status === 501
          ? "This Temporal server offers no visibility queries, so sessions cannot be listed (use the Temporal dev server or a cluster)."
          : detail(result);
      return;
    }
    const items = result.data.items;
    for (const session of items) {
      const tr = el("tr");
      const link = el("a", "Open in Temporal ↗");
      const url = safeUrl(session.temporal_ui_url);
      if (url) link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const who = customerName(session) || "unknown contact";
      link.setAttribute("aria-label", `Open the session of ${who} in the Temporal Web UI (new tab)`);
      // Opted out (by keyword or through the API): the session runs, but nothing is sent.
      const optedOut = session.opted_out ? badge("opted out", "opted-out") : null;
      if (optedOut) optedOut.title = "No reminder and no template is sent to this customer";
      tr.append(
        cell("Customer", customer(session, session.conversation_key), optedOut),
        cell("State", badge(session.state)),
        cell("Last customer message", timeElement(session.last_customer_message_at)),
        cell("Reminder due", timeElement(session.reminder_due_at)),
        cell("Window closes", timeElement(session.window_closes_at)),
        cell("Reminder", ...(session.reminder_outcome ? outcomeCell(session.reminder_outcome) : [el("span", "—")])),
        cell("Link", link),
      );
      tbody.append(tr);
    }
    table.hidden = items.length === 0;
    const filter = state ? ` in state “${state}”` : "";
    status.textContent = items.length
      ? `${items.length} session${items.length === 1 ? "" : "s"}${filter}.`
      : `No sessions${filter} yet.`;
  }

  function reminderRow(record) {
    const tr = el("tr");
    const delivery = record.delivery_status ? badge(record.delivery_status) : el("span", "—");
    const text = el("td", record.text || "—", "message-text");
    text.dataset.label = "Message";
    tr.append(
      cell("Decided", timeElement(record.decided_at)),
      cell("Customer", customer(record, record.reminder_id)),
      cell(
        "Outcome",
        // A template sent after the window closed reads apart from the reminders.
        record.kind === "template" ? badge("template", "template") : null,
        ...outcomeCell(record.outcome, record.reason, record.error_code),
      ),
      cell("Delivery", delivery),
      text,
    );
    return tr;
  }

  async function loadReminders(append) {
    const status = $("reminders-status");
    const table = $("reminders-table");
    const more = $("reminders-more");
    const tbody = table.tBodies[0];
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (append && nextCursor) params.set("cursor", nextCursor);
    status.textContent = "Loading reminders…";
    more.disabled = true;
    const result = await api("GET", `${base}/reminders?${params}`);
    more.disabled = false;
    if (!result.ok) {
      status.textContent = detail(result);
      return;
    }
    if (!append) tbody.replaceChildren();
    for (const record of result.data.items) tbody.append(reminderRow(record));
    nextCursor = result.data.next;
    more.hidden = !nextCursor;
    const count = tbody.rows.length;
    table.hidden = count === 0;
    status.textContent = count
      ? `${count} reminder decision${count === 1 ? "" : "s"}${nextCursor ? " so far" : ""}, newest first.`
      : "No reminder decisions yet.";
  }

  window.Pages.start(async () => {
    await Promise.all([loadSessions(), loadReminders(false)]);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const params = new URLSearchParams(window.location.search);
    const wanted = params.get("state");
    if (wanted && [...$("state-filter").options].some((o) => o.value === wanted)) {
      $("state-filter").value = wanted;
    }
    $("state-filter").addEventListener("change", () => {
      // Keep the filter in the address bar so a reload (or a shared link) shows the same list.
      const url = new URL(window.location.href);
      if ($("state-filter").value) url.searchParams.set("state", $("state-filter").value);
      else url.searchParams.delete("state");
      history.replaceState(null, "", url);
      guard(loadSessions);
    });
    $("sessions-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      guard(loadSessions);
    });
    $("sessions-refresh").addEventListener("click", () => guard(loadSessions));
    $("reminders-refresh").addEventListener("click", () => guard(() => loadReminders(false)));
    $("reminders-more").addEventListener("click", () => guard(() => loadReminders(true)));
  });
})();
