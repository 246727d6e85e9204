/* The settings page: load, edit (merge-field buttons, counter, live previews) and save.
 *
 * The API's PUT replaces the whole settings document, so every save sends every field: quiet
 * hours, the template and the message prices as null while their switch is off. A 422's errors
 * are put next to their fields by their loc (errorSlot).
 *
 * Message prices are money: their amounts go to the API as the strings typed (trimmed), never
 * through a JS number, and the API alone says whether they are valid (docs/analytics.md#cost).
 */
"use strict";

(() => {
  const { api, base, detail, guard, $ } = window.Pages;
  const PREVIEW_DELAY_MS = 300;

  let form, minLength, maxLength, maxParameters, maxParameterLength;
  let previewTimer = null;
  let previewSeq = 0;
  let templatePreviewTimer = null;
  let templatePreviewSeq = 0;
  // The parameter a merge-field button writes into: the one focused last (the click moves the
  // focus to the button itself).
  let lastParameter = null;

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

  // -- switched sections ---------------------------------------------------------------------

  function syncSwitches() {
    $("quiet-hours-times").hidden = !$("quiet_hours_on").checked;
    $("template-details").hidden = !$("template_on").checked;
    $("prices-details").hidden = !$("prices_on").checked;
  }

  // -- keywords: one per line ----------------------------------------------------------------

  /** The non-blank lines of a keyword box (a blank line is no keyword, not an error). */
  function keywordsOf(id) {
    return $(id)
      .value.split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
  }

  // -- template parameters -------------------------------------------------------------------

  function parameterInputs() {
    return Array.from($("template-parameters").querySelectorAll("input"));
  }

  function parameterValues() {
    return parameterInputs().map((input) => input.value);
  }

  /** Meta's name of the n-th body parameter (0-based index). */
  function placeholder(index) {
    return `{{${index + 1}}}`;
  }

  function parameterRow(index, value) {
    const id = `template_param_${index}`;
    const row = document.createElement("li");
    row.className = "param-row";
    const label = Object.assign(document.createElement("label"), {
      htmlFor: id,
      textContent: `Parameter ${placeholder(index)}`,
    });
    const input = Object.assign(document.createElement("input"), {
      type: "text",
      id,
      value,
      maxLength: maxParameterLength,
      autocomplete: "off",
    });
    input.setAttribute("aria-describedby", `${id}-error`);
    input.dataset.index = String(index);
    const remove = Object.assign(document.createElement("button"), {
      type: "button",
      className: "secondary remove-parameter",
      textContent: "Remove",
    });
    remove.setAttribute("aria-label", `Remove parameter ${placeholder(index)}`);
    remove.dataset.index = String(index);
    const error = Object.assign(document.createElement("p"), { id: `${id}-error`, className: "error" });
    error.hidden = true;
    row.append(label, input, remove, error);
    return row;
  }

  /** Rebuild the rows from values (numbering and ids follow the order). */
  function setParameters(values) {
    $("template-parameters").replaceChildren(...values.map((value, index) => parameterRow(index, value)));
    $("add-parameter").disabled = values.length >= maxParameters;
    lastParameter = null;
  }

  function addParameter(value = "") {
    const values = parameterValues();
    if (values.length >= maxParameters) return null;
    setParameters([...values, value]);
    $("body_parameters-error").hidden = true;
    const inputs = parameterInputs();
    const added = inputs[inputs.length - 1];
    added.focus();
    scheduleTemplatePreview();
    return added;
  }

  function removeParameter(index) {
    const values = parameterValues();
    values.splice(index, 1);
    setParameters(values);
    $("body_parameters-error").hidden = true;
    // The focus goes to the row that took its place, else to the previous, else to "Add".
    const inputs = parameterInputs();
    (inputs[index] || inputs[index - 1] || $("add-parameter")).focus();
    scheduleTemplatePreview();
  }

  function insertAtCursor(field, text) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    field.setRangeText(text, start, end, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertIntoParameter(text) {
    let target = lastParameter && lastParameter.isConnected ? lastParameter : parameterInputs()[0];
    if (!target) target = addParameter();
    if (target) insertAtCursor(target, text);
  }

  function showTemplatePreview(rendered, status, kind) {
    $("template-preview").replaceChildren(
      ...rendered.map((text, index) => {
        const item = document.createElement("li");
        item.append(Object.assign(document.createElement("span"), {
          className: "mono placeholder",
          textContent: placeholder(index),
        }));
        const value = Object.assign(document.createElement("span"), { className: "rendered" });
        value.textContent = text === "" ? "(empty)" : text;
        value.classList.toggle("is-empty", text === "");
        item.append(value);
        return item;
      }),
    );
    const line = $("template-preview-status");
    line.textContent = status;
    line.classList.toggle("is-error", kind === "error");
  }

  async function renderTemplatePreview() {
    if (!$("template_on").checked) return;
    const parameters = parameterValues();
    const seq = ++templatePreviewSeq;
    if (!parameters.length) {
      showTemplatePreview([], "No parameters: the template goes out as approved.", "empty");
      return;
    }
    const result = await api("POST", `${base}/session-settings/preview`, {
      template_parameters: parameters,
    });
    if (seq !== templatePreviewSeq) return; // an older answer arriving after a newer request
    if (result.ok) showTemplatePreview(result.data.template_parameters || [], "", "ok");
    else showTemplatePreview([], detail(result), "error");
  }

  function scheduleTemplatePreview() {
    clearTimeout(templatePreviewTimer);
    templatePreviewTimer = setTimeout(() => guard(renderTemplatePreview), PREVIEW_DELAY_MS);
  }

  // -- message prices ------------------------------------------------------------------------

  /** The currency as sent: every price of the account has this one. */
  function currencyValue() {
    return $("price_currency").value.trim().toUpperCase();
  }

  /** The currency next to each amount follows the currency field. */
  function syncCurrency() {
    const currency = currencyValue() || "—";
    for (const unit of form.querySelectorAll("[data-currency-unit]")) unit.textContent = currency;
  }

  function countryRows() {
    return Array.from($("country-prices").children);
  }

  /** Each row's code and amount, trimmed, in the order shown. */
  function countryValues() {
    return countryRows().map((row) => ({
      code: row.querySelector(".price-code").value.trim(),
      amount: row.querySelector(".price-amount").value.trim(),
    }));
  }

  /** The currency shown after an amount (the currency field itself names it). */
  function currencyUnit() {
    const unit = Object.assign(document.createElement("span"), {
      className: "unit",
      textContent: currencyValue() || "—",
    });
    unit.dataset.currencyUnit = "";
    unit.setAttribute("aria-hidden", "true");
    return unit;
  }

  /** A cell of a country row: its label (numbered for screen readers) and input. */
  function priceCell(id, number, shown, input, control = input) {
    const cell = document.createElement("div");
    cell.className = "price-cell";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.append(
      Object.assign(document.createElement("span"), {
        className: "visually-hidden",
        textContent: `Country ${number} `,
      }),
      shown,
    );
    Object.assign(input, { id, autocomplete: "off", spellcheck: false });
    input.setAttribute("aria-describedby", `${id}-error`);
    cell.append(label, control);
    return cell;
  }

  /** The error of a row's input: under the whole row, so that it reads as a line. */
  function priceError(id) {
    const error = Object.assign(document.createElement("p"), { id: `${id}-error`, className: "error" });
    error.hidden = true;
    return error;
  }

  function countryRow(index, code, amount) {
    const number = index + 1;
    const row = document.createElement("li");
    row.className = "price-row";
    const codeInput = Object.assign(document.createElement("input"), {
      className: "price-code",
      value: code,
      inputMode: "numeric",
      maxLength: 4,
    });
    const amountInput = Object.assign(document.createElement("input"), {
      className: "price-amount",
      value: amount,
      inputMode: "decimal",
    });
    const amountControl = Object.assign(document.createElement("div"), { className: "amount-input" });
    amountControl.append(amountInput, currencyUnit());
    const remove = Object.assign(document.createElement("button"), {
      type: "button",
      className: "secondary remove-price",
      textContent: "Remove",
    });
    remove.setAttribute("aria-label", `Remove country ${number}`);
    remove.dataset.index = String(index);
    row.append(
      priceCell(`price_code_${index}`, number, "Calling code", codeInput),
      priceCell(`price_amount_${index}`, number, "Price", amountInput, amountControl),
      remove,
      priceError(`price_code_${index}`),
      priceError(`price_amount_${index}`),
    );
    return row;
  }

  /** Rebuild the rows from values (numbering and ids follow the order). */
  function setCountries(values) {
    $("country-prices").replaceChildren(
      ...values.map(({ code, amount }, index) => countryRow(index, code, amount)),
    );
  }

  function addCountry() {
    setCountries([...countryValues(), { code: "", amount: "" }]);
    $("message_prices-error").hidden = true;
    const rows = countryRows();
    rows[rows.length - 1].querySelector(".price-code").focus();
  }

  function removeCountry(index) {
    const values = countryValues();
    values.splice(index, 1);
    setCountries(values);
    $("message_prices-error").hidden = true;
    // The focus goes to the row that took its place, else to the previous, else to "Add".
    const rows = countryRows();
    const next = rows[index] || rows[index - 1];
    (next ? next.querySelector(".price-code") : $("add-country-price")).focus();
  }

  /** Put the saved prices into the form (while off, the inputs keep what they held). */
  function fillPrices(prices) {
    $("prices_on").checked = Boolean(prices);
    if (prices) {
      $("price_currency").value = prices.default.currency;
      $("price_default").value = prices.default.amount;
      $("price_template").value = prices.template ? prices.template.amount : "";
      setCountries(
        Object.entries(prices.by_country_code || {})
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([code, price]) => ({ code, amount: price.amount })),
      );
    }
    syncCurrency();
  }

  /** The rows that repeat an earlier row's code (a JSON object has one price per code). */
  function repeatedCountries() {
    const seen = new Set();
    const repeated = [];
    countryValues().forEach(({ code, amount }, index) => {
      if (code === "" && amount === "") return; // a blank row is no price
      if (seen.has(code)) repeated.push(index);
      seen.add(code);
    });
    return repeated;
  }

  /** message_prices as the API takes it: amounts as typed (trimmed), one currency; or null. */
  function pricesValue() {
    if (!$("prices_on").checked) return null;
    const currency = currencyValue();
    const price = (amount) => ({ amount, currency });
    // fromEntries: a code is an own key whatever it is (the API judges it).
    const byCode = Object.fromEntries(
      countryValues()
        .filter(({ code, amount }) => code !== "" || amount !== "") // a blank row is no price
        .map(({ code, amount }) => [code, price(amount)]),
    );
    const template = $("price_template").value.trim();
    return {
      default: price($("price_default").value.trim()),
      by_country_code: byCode,
      template: template === "" ? null : price(template),
    };
  }

  /** The row (index) of the price the API names by its code, or -1. */
  function countryIndex(code) {
    return countryValues().findIndex((row) => row.code === code && !(row.code === "" && row.amount === ""));
  }

  // -- the document ---------------------------------------------------------------------------

  function fill(settings) {
    $("enabled").checked = settings.enabled;
    $("expiry_hours").value = String(settings.expiry_hours);
    $("message").value = settings.message;
    updateCounter();
    // While off, the inputs keep what they held (turning the switch back on restores it).
    $("quiet_hours_on").checked = Boolean(settings.quiet_hours);
    if (settings.quiet_hours) {
      $("quiet_start").value = settings.quiet_hours.start;
      $("quiet_end").value = settings.quiet_hours.end;
    }
    $("timezone").value = settings.timezone;
    $("opt_out_keywords").value = settings.opt_out_keywords.join("\n");
    $("opt_in_keywords").value = settings.opt_in_keywords.join("\n");
    const template = settings.fallback_template;
    $("template_on").checked = Boolean(template);
    if (template) {
      $("template_name").value = template.name;
      $("template_language").value = template.language;
      setParameters(template.body_parameters);
    }
    fillPrices(settings.message_prices);
    syncSwitches();
  }

  function hoursValue() {
    const raw = $("expiry_hours").value.trim();
    // Anything but a whole number goes to the API as typed, so its 422 names the field.
    return /^-?\d+$/.test(raw) ? Number(raw) : raw === "" ? null : raw;
  }

  function payload() {
    return {
      enabled: $("enabled").checked,
      expiry_hours: hoursValue(),
      message: $("message").value,
      // A time input whose value is incomplete reads "", which the API names as not HH:MM.
      quiet_hours: $("quiet_hours_on").checked
        ? { start: $("quiet_start").value, end: $("quiet_end").value }
        : null,
      timezone: $("timezone").value.trim(),
      opt_out_keywords: keywordsOf("opt_out_keywords"),
      opt_in_keywords: keywordsOf("opt_in_keywords"),
      fallback_template: $("template_on").checked
        ? {
            name: $("template_name").value.trim(),
            language: $("template_language").value.trim(),
            body_parameters: parameterValues(),
          }
        : null,
      message_prices: pricesValue(),
    };
  }

  // -- errors ----------------------------------------------------------------------------------

  const SIMPLE_FIELDS = ["enabled", "expiry_hours", "message", "timezone"];

  /** Where a 422 error with this loc is shown: {error, inputs, prefix}, or null (above Save). */
  function errorSlot(loc) {
    if (!Array.isArray(loc) || loc[0] !== "body") return null;
    const [, field, part, index] = loc;
    const slot = (errorId, inputIds, prefix = "") => ({
      error: $(errorId),
      inputs: inputIds.map((id) => $(id)),
      prefix,
    });
    if (SIMPLE_FIELDS.includes(field)) return slot(`${field}-error`, [field]);
    if (field === "opt_out_keywords" || field === "opt_in_keywords") {
      // loc [..., n]: the n-th non-blank line.
      return slot(`${field}-error`, [field], Number.isInteger(part) ? `Keyword ${part + 1}: ` : "");
    }
    if (field === "quiet_hours") {
      if (part === "start") return slot("quiet_start-error", ["quiet_start"]);
      if (part === "end") return slot("quiet_end-error", ["quiet_end"]);
      return slot("quiet_hours-error", ["quiet_start", "quiet_end"]);
    }
    if (field === "fallback_template") {
      if (part === "name") return slot("template_name-error", ["template_name"]);
      if (part === "language") return slot("template_language-error", ["template_language"]);
      if (part === "body_parameters") {
        if (Number.isInteger(index) && $(`template_param_${index}`)) {
          return slot(`template_param_${index}-error`, [`template_param_${index}`]);
        }
        return slot("body_parameters-error", []);
      }
      return slot("fallback_template-error", []);
    }
    if (field === "message_prices") return priceSlot(loc.slice(2), slot);
    return null;
  }

  /** Where an error of message_prices goes; path is the loc after "message_prices". */
  function priceSlot(path, slot) {
    const [part, key, leaf] = path;
    const currency = () => slot("price_currency-error", ["price_currency"]);
    if (part === "default" || part === "template") {
      // loc [..., "default", "amount" | "currency"]
      return key === "currency" ? currency() : slot(`price_${part}-error`, [`price_${part}`]);
    }
    if (part === "by_country_code" && typeof key === "string") {
      // loc [..., "by_country_code", code, "amount" | "currency" | "[key]"]
      if (leaf === "currency") return currency();
      const index = countryIndex(key);
      if (index < 0) return slot("message_prices-error", [], `+${key}: `);
      if (leaf === "[key]") return slot(`price_code_${index}-error`, [`price_code_${index}`]);
      return slot(`price_amount_${index}-error`, [`price_amount_${index}`]);
    }
    // One currency for all (loc [..., "message_prices"]) and anything else: under the section.
    return slot("message_prices-error", []);
  }

  function clearErrors(root = form) {
    for (const error of root.querySelectorAll(".error")) {
      error.textContent = "";
      error.hidden = true;
    }
    for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Put each 422 error next to its field; the rest above the button. */
  function showErrors(errors) {
    const general = [];
    const shown = new Map(); // error element -> messages
    for (const error of errors) {
      const slot = errorSlot(error.loc);
      if (!slot || !slot.error) {
        general.push(error.msg);
        continue;
      }
      if (!shown.has(slot.error)) shown.set(slot.error, []);
      // One field may get the same error more than once (the currency of every price).
      const messages = shown.get(slot.error);
      if (!messages.includes(slot.prefix + error.msg)) messages.push(slot.prefix + error.msg);
      for (const input of slot.inputs) if (input) input.setAttribute("aria-invalid", "true");
    }
    for (const [element, messages] of shown) {
      element.textContent = messages.join(" ");
      element.hidden = false;
    }
    if (general.length) {
      $("form-error").textContent = general.join(" ");
      $("form-error").hidden = false;
    }
    // The first field in reading order with an error takes the focus.
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  /** Two rows with one calling code cannot be sent (an object has one price per code): said
   * next to the later row, and nothing is saved. True when refused. */
  function refuseRepeatedCountries() {
    if (!$("prices_on").checked) return false;
    const repeated = repeatedCountries();
    for (const index of repeated) {
      const input = $(`price_code_${index}`);
      const error = $(`price_code_${index}-error`);
      const code = input.value.trim();
      error.textContent = code === "" ? "Enter the calling code of this price." : `+${code} has a price above already: keep one of the two.`;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
    }
    if (repeated.length) $(`price_code_${repeated[0]}`).focus();
    return repeated.length > 0;
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    $("save-status").textContent = "";
    if (refuseRepeatedCountries()) return;
    const button = $("save");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      const result = await api("PUT", `${base}/session-settings`, payload());
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

  /** An edit clears the errors of its own field (a parameter row, a country price's input,
   * or the .field around it). */
  function edited(event) {
    $("save-status").textContent = "";
    const target = event.target;
    if (target.closest && target.closest(".price-row")) {
      const error = $(`${target.id}-error`);
      if (error) {
        error.textContent = "";
        error.hidden = true;
      }
      target.removeAttribute("aria-invalid");
      return;
    }
    const container = target.closest && target.closest(".param-row, .field");
    if (container) clearErrors(container);
  }

  window.Pages.start(async () => {
    const result = await api("GET", `${base}/session-settings`);
    if (result.ok) fill(result.data);
    // The form holds the saved settings from here on (tests and assistive tools wait for it).
    $("settings-form").removeAttribute("aria-busy");
    if (!result.ok) {
      window.Pages.showPageError(detail(result));
      return;
    }
    await renderPreview();
    await renderTemplatePreview();
  });

  document.addEventListener("DOMContentLoaded", () => {
    form = $("settings-form");
    minLength = Number(form.dataset.minLength);
    maxLength = Number(form.dataset.maxLength);
    const details = $("template-details");
    maxParameters = Number(details.dataset.maxParameters);
    maxParameterLength = Number(details.dataset.maxParameterLength);
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

    $("quiet_hours_on").addEventListener("change", syncSwitches);
    $("template_on").addEventListener("change", () => {
      syncSwitches();
      scheduleTemplatePreview();
    });
    const list = $("template-parameters");
    list.addEventListener("focusin", (event) => {
      if (event.target.matches("input")) lastParameter = event.target;
    });
    list.addEventListener("input", scheduleTemplatePreview);
    list.addEventListener("click", (event) => {
      const remove = event.target.closest(".remove-parameter");
      if (remove) removeParameter(Number(remove.dataset.index));
    });
    $("add-parameter").addEventListener("click", () => addParameter());

    $("prices_on").addEventListener("change", syncSwitches);
    $("price_currency").addEventListener("input", syncCurrency);
    $("country-prices").addEventListener("click", (event) => {
      const remove = event.target.closest(".remove-price");
      if (remove) removeCountry(Number(remove.dataset.index));
    });
    $("add-country-price").addEventListener("click", addCountry);
    for (const button of form.querySelectorAll("[data-parameter-field]")) {
      button.addEventListener("click", () => insertIntoParameter(button.dataset.parameterField));
    }
  });
})();
