/* The settings page: load, edit (merge-field buttons, counter, live preview) and save. */
"use strict";

(() => {
  const { api, base, detail, guard, setFieldError, $ } = window.Pages;
  const FIELDS = ["enabled", "expiry_hours", "message"];
  const PREVIEW_DELAY_MS = 300;

  let form, minLength, maxLength;
  let previewTimer = null;
  let previewSeq = 0;

  function updateCounter() {
    const length = $("message").value.length;
    const counter = $("message-counter");
    counter.textContent = `${length} / ${maxLength} characters`;
    counter.classList.toggle("out-of-range", length < minLength || length > maxLength);
  }

  function showPreview(text, kind, notes = []) {
    const preview = $("preview");
    preview.textContent = text;
    preview.classList.toggle("is-error", kind === "error");
    preview.classList.toggle("is-empty", kind === "empty");
    // Notes say how the message reads for some customers ({contact_phone} without a number).
    $("preview-notes").replaceChildren(
      ...notes.map((note) => Object.assign(document.createElement("li"), { textContent: note })),
    );
  }

  async function renderPreview() {
    const message = $("message").value;
    const seq = ++previewSeq;
    if (!message.trim()) {
      showPreview("Type a message to see how it will read.", "empty");
      return;
    }
    const result = await api("POST", `${base}/session-settings/preview`, { message });
    if (seq !== previewSeq) return; // an older answer arriving after a newer request
    if (result.ok) showPreview(result.data.text, "ok", result.data.notes);
    else showPreview(detail(result), "error");
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => guard(renderPreview), PREVIEW_DELAY_MS);
  }

  function clearErrors() {
    for (const name of FIELDS) setFieldError($(name), $(`${name}-error`), "");
    $("form-error").hidden = true;
    $("form-error").textContent = "";
  }

  function fill(settings) {
    $("enabled").checked = settings.enabled;
    $("expiry_hours").value = String(settings.expiry_hours);
    $("message").value = settings.message;
    updateCounter();
  }

  function hoursValue() {
    const raw = $("expiry_hours").value.trim();
    // Anything but a whole number goes to the API as typed, so its 422 names the field.
    return /^-?\d+$/.test(raw) ? Number(raw) : raw === "" ? null : raw;
  }

  /** Put each 422 error next to its field (loc ["body", field]); the rest above the button. */
  function showErrors(errors) {
    const general = [];
    const byField = {};
    for (const error of errors) {
      const loc = Array.isArray(error.loc) ? error.loc : [];
      const field = loc[0] === "body" ? loc[1] : undefined;
      if (FIELDS.includes(field)) (byField[field] ||= []).push(error.msg);
      else general.push(error.msg);
    }
    let first = null;
    for (const name of FIELDS) {
      if (byField[name]) {
        setFieldError($(name), $(`${name}-error`), byField[name].join(" "));
        first ||= $(name);
      }
    }
    if (general.length) {
      $("form-error").textContent = general.join(" ");
      $("form-error").hidden = false;
    }
    if (first) first.focus();
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    $("save-status").textContent = "";
    const button = $("save");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      const payload = {
        enabled: $("enabled").checked,
        expiry_hours: hoursValue(),
        message: $("message").value,
      };
      const result = await api("PUT", `${base}/session-settings`, payload);
      if (result.ok) {
        fill(result.data.settings);
        $("save-status").textContent = result.data.message;
      } else if (result.status === 422 && Array.isArray(result.data && result.data.detail)) {
        showErrors(result.data.detail);
      } else {
        $("form-error").textContent = detail(result);
        $("form-error").hidden = false;
      }
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  function insertAtCursor(textarea, text) {
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    textarea.setRangeText(text, start, end, "end");
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function edited(event) {
    $("save-status").textContent = "";
    const name = event.target.name;
    if (FIELDS.includes(name)) setFieldError($(name), $(`${name}-error`), "");
  }

  window.Pages.start(async () => {
    const result = await api("GET", `${base}/session-settings`);
    if (!result.ok) {
      window.Pages.showPageError(detail(result));
      return;
    }
    fill(result.data);
    await renderPreview();
  });

  document.addEventListener("DOMContentLoaded", () => {
    form = $("settings-form");
    minLength = Number(form.dataset.minLength);
    maxLength = Number(form.dataset.maxLength);
    form.addEventListener("submit", (event) => guard(() => save(event)));
    form.addEventListener("input", edited);
    form.addEventListener("change", edited);
    $("message").addEventListener("input", () => {
      updateCounter();
      schedulePreview();
    });
    for (const button of form.querySelectorAll("[data-merge-field]")) {
      button.addEventListener("click", () => insertAtCursor($("message"), button.dataset.mergeField));
    }
  });
})();
