/* The analytics page: "does it pay?" as pictures — headline tiles, reminders sent and replied
 * per day (an SVG bar chart drawn here, no library), the delivery funnel, and the cost.
 *
 * Everything comes from GET /v1/accounts/{id}/analytics?from=&to= (UTC days, inclusive). The
 * range lives in the address bar (?from=&to=) so that a link reproduces the view; the API alone
 * validates it, and its 422 is shown next to the date inputs. Money arrives as decimal strings
 * and is shown exactly as given: no amount is ever computed here with floating point.
 */
"use strict";

(() => {
  const { api, base, detail, guard, el, $ } = window.Pages;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PERCENT = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });
  const DAY_LABEL = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  const RESIZE_DELAY_MS = 150;

  let current = null; // the last answer shown
  let drawnWidth = 0;
  let loadSeq = 0;

  // -- formatting -------------------------------------------------------------------------------

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : PERCENT.format(rate);
  }

  /** A share of the reminders sent ("—" when none were sent). Counts, not money. */
  function shareOf(count, total) {
    return total > 0 ? PERCENT.format(count / total) : "—";
  }

  /** "45 s", "4 min", "1 h 12 min": how long people took, at a glance. */
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const whole = Math.round(seconds);
    if (whole < 60) return `${whole} s`;
    const minutes = Math.round(whole / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return rest ? `${hours} h ${rest} min` : `${hours} h`;
  }

  /** A money object of the API ({amount: "0.0840", currency: "USD"}), exactly as given. */
  function setMoney(id, value) {
    const target = $(id);
    if (!value) {
      target.textContent = "—";
      return;
    }
    target.replaceChildren(el("span", value.amount, "amount"), " ", el("span", value.currency, "currency"));
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  // -- dates (UTC days as YYYY-MM-DD) -------------------------------------------------------------

  function todayUtc() {
    return new Date().toISOString().slice(0, 10);
  }

  function addDays(iso, days) {
    const [year, month, day] = iso.split("-").map(Number);
    return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
  }

  function dayLabel(iso) {
    const [year, month, day] = iso.split("-").map(Number);
    return DAY_LABEL.format(new Date(Date.UTC(year, month - 1, day)));
  }

  // -- tiles --------------------------------------------------------------------------------------

  function setText(id, text) {
    $(id).textContent = text;
  }

  function renderTiles(data) {
    setText("tile-replied", String(data.replied));
    setText("tile-replied-sub", `of ${plural(data.reminders_sent, "reminder")} sent`);
    setText("tile-reply-rate", percent(data.reply_rate));
    setText("tile-median-reply", duration(data.median_reply_seconds));
    setText("tile-templates", String(data.templates_sent));
    const priced = Boolean(data.estimated_cost);
    setMoney("tile-cost", data.estimated_cost);
    setText("tile-cost-sub", priced ? "delivered reminders and templates" : "no message prices set");
    setMoney("tile-cost-per-reply", data.cost_per_reply);
    let perReply = "per replied reminder";
    if (!priced) perReply = "no message prices set";
    else if (!data.cost_per_reply) perReply = "no replies yet";
    setText("tile-cost-per-reply-sub", perReply);
    $("cost-hint").hidden = priced;
    for (const tile of document.querySelectorAll(".tile[data-tile^='cost']")) {
      tile.classList.toggle("is-unpriced", !priced);
    }
  }

  // -- the chart ------------------------------------------------------------------------------------

  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** The y axis' top and step: round numbers, at most about five gridlines, whole counts. */
  function niceScale(max) {
    if (max <= 0) return { top: 1, step: 1 };
    let magnitude = 1;
    for (;;) {
      for (const factor of [1, 2, 5]) {
        const step = factor * magnitude;
        if (Math.ceil(max / step) <= 5) return { top: Math.ceil(max / step) * step, step };
      }
      magnitude *= 10;
    }
  }

  function chartSummary(data) {
    const sent = data.reminders_sent;
    let text =
      `Bar chart of reminders sent and replied per day, ${data.from} to ${data.to} ` +
      `(${plural(data.days.length, "day")}): ${sent} sent, ${data.replied} replied in all.`;
    const busiest = data.days.reduce((best, day) => (day.reminders_sent > best.reminders_sent ? day : best), data.days[0]);
    if (busiest && busiest.reminders_sent > 0) {
      text += ` The most on ${busiest.date}: ${busiest.reminders_sent} sent, ${busiest.replied} replied.`;
    }
    return text;
  }

  function drawChart(data) {
    const box = $("daily-chart");
    const days = data.days;
    // Drawn at the box's own width (a viewBox in real pixels), so that labels keep their size
    // on a phone; the viewBox still scales the whole if the box changes before a redraw.
    const width = Math.max(280, Math.round(box.clientWidth || 640));
    drawnWidth = width;
    const narrow = width < 480;
    const height = narrow ? 220 : 280;
    const margin = { top: 14, right: 22, bottom: 48, left: 46 };
    const plotWidth = width - margin.left - margin.right;
    const plotHeight = height - margin.top - margin.bottom;
    const max = days.reduce((most, day) => Math.max(most, day.reminders_sent, day.replied), 0);
    const { top, step } = niceScale(max);
    const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
    const slot = plotWidth / Math.max(1, days.length);
    const barWidth = Math.max(1, slot * 0.72);
    const innerWidth = Math.max(1, barWidth * 0.55);

    const summary = chartSummary(data);
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width: "100%",
      preserveAspectRatio: "xMidYMid meet",
      role: "img",
      "aria-label": summary,
      class: "daily-chart",
    });
    chart.append(svg("title", {}, summary));

    // Gridlines with their counts, then the axes' titles.
    const grid = svg("g", { class: "grid", "aria-hidden": "true" });
    for (let value = 0; value <= top; value += step) {
      grid.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), class: value ? "gridline" : "baseline" }),
        svg("text", { x: margin.left - 6, y: y(value), class: "tick tick-y", "text-anchor": "end", "dominant-baseline": "middle" }, String(value)),
      );
    }
    grid.append(
      svg("text", { class: "axis-title", "text-anchor": "middle", transform: `translate(12 ${margin.top + plotHeight / 2}) rotate(-90)` }, "Reminders"),
      svg("text", { class: "axis-title", "text-anchor": "middle", x: margin.left + plotWidth / 2, y: height - 6 }, "Day (UTC)"),
    );
    chart.append(grid);

    // Day labels: as many as fit, counted back from the newest day, which is always labelled.
    const labels = svg("g", { class: "day-labels", "aria-hidden": "true" });
    const fit = Math.max(2, Math.floor(plotWidth / (narrow ? 54 : 64)));
    const every = Math.max(1, Math.ceil(days.length / fit));
    days.forEach((day, index) => {
      if ((days.length - 1 - index) % every !== 0) return;
      const x = margin.left + (index + 0.5) * slot;
      labels.append(
        svg("line", { x1: x, x2: x, y1: margin.top + plotHeight, y2: margin.top + plotHeight + 4, class: "tick-mark" }),
        svg("text", { x, y: margin.top + plotHeight + 18, class: "tick tick-x", "text-anchor": "middle" }, dayLabel(day.date)),
      );
    });
    chart.append(labels);

    // One group per day: a hover area with the day's numbers, the sent bar and, inside it, the
    // replied bar (replied is part of sent, so they overlay rather than stand side by side).
    const bars = svg("g", { class: "bars" });
    days.forEach((day, index) => {
      const left = margin.left + index * slot;
      const group = svg("g", { class: "day", "data-date": day.date });
      group.append(
        svg("title", {}, `${day.date}: ${day.reminders_sent} sent, ${day.replied} replied (${percent(day.reply_rate)})`),
        svg("rect", { class: "hit", x: left, y: margin.top, width: slot, height: plotHeight }),
      );
      const series = [
        ["reminders_sent", day.reminders_sent, barWidth, "bar bar-sent"],
        ["replied", day.replied, innerWidth, "bar bar-replied"],
      ];
      for (const [name, value, barW, className] of series) {
        group.append(
          svg("rect", {
            class: className,
            x: left + (slot - barW) / 2,
            y: y(value),
            width: barW,
            height: margin.top + plotHeight - y(value),
            "data-date": day.date,
            "data-series": name,
            "data-value": value,
          }),
        );
      }
      bars.append(group);
    });
    chart.append(bars);

    box.replaceChildren(chart);
    $("daily-caption").textContent =
      `${plural(data.reminders_sent, "reminder")} sent and ${data.replied} replied from ${data.from} to ${data.to}. ` +
      "Point at a day for its numbers; the table below has them all.";
  }

  function renderDailyTable(data) {
    const rows = data.days.map((day) => {
      const tr = el("tr");
      tr.dataset.date = day.date;
      const date = el("th", day.date);
      date.scope = "row";
      tr.append(date, el("td", day.reminders_sent), el("td", day.replied), el("td", percent(day.reply_rate)));
      return tr;
    });
    $("daily-table").tBodies[0].replaceChildren(...rows);
  }

  // -- the funnel ---------------------------------------------------------------------------------

  function funnelStages(data) {
    return [
      ["sent", "Sent", data.reminders_sent],
      ["delivered", "Delivered", data.delivered],
      ["read", "Read", data.read],
      ["replied", "Replied", data.replied],
    ];
  }

  function renderFunnel(data) {
    const sent = data.reminders_sent;
    const items = funnelStages(data).map(([stage, label, count]) => {
      const li = el("li", undefined, "funnel-stage");
      li.dataset.stage = stage;
      li.dataset.value = String(count);
      const bar = svg("svg", { class: "funnel-bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" });
      const share = sent > 0 ? Math.min(1, count / sent) : 0;
      bar.append(
        svg("rect", { class: "track", x: 0, y: 0, width: 100, height: 10 }),
        svg("rect", { class: `fill fill-${stage}`, x: 0, y: 0, width: share * 100, height: 10 }),
      );
      const numbers = el("span", undefined, "funnel-numbers");
      numbers.append(el("span", count, "funnel-count"), el("span", shareOf(count, sent), "funnel-share"));
      li.append(el("span", label, "funnel-label"), bar, numbers);
      return li;
    });
    $("funnel").replaceChildren(...items);

    const failed = $("funnel-failed");
    failed.replaceChildren(
      el("span", "Failed", `badge ${data.failed ? "badge-failed" : ""}`.trim()),
      " ",
      el("span", data.failed, "failed-count"),
      " ",
      el("span", "(refused or undelivered)", "sub-inline"),
    );
    failed.dataset.value = String(data.failed);

    const rows = funnelStages(data).map(([stage, label, count]) => {
      const tr = el("tr");
      tr.dataset.stage = stage;
      const name = el("th", label);
      name.scope = "row";
      tr.append(name, el("td", count), el("td", shareOf(count, sent)));
      return tr;
    });
    const failedRow = el("tr");
    failedRow.dataset.stage = "failed";
    const failedName = el("th", "Failed (refused or undelivered)");
    failedName.scope = "row";
    failedRow.append(failedName, el("td", data.failed), el("td", "—"));
    $("funnel-table").tBodies[0].replaceChildren(...rows, failedRow);
  }

  // -- the range ----------------------------------------------------------------------------------

  function showRangeError(message) {
    const error = $("range-error");
    error.textContent = message || "";
    error.hidden = !message;
    for (const input of [$("range-from"), $("range-to")]) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  function markQuickRange(data) {
    const today = todayUtc();
    for (const button of document.querySelectorAll(".quick-ranges button")) {
      const days = Number(button.dataset.days);
      const pressed = data.to === today && data.from === addDays(today, 1 - days);
      button.setAttribute("aria-pressed", String(pressed));
    }
  }

  function render(data) {
    current = data;
    renderTiles(data);
    drawChart(data);
    renderDailyTable(data);
    renderFunnel(data);
    markQuickRange(data);
    const days = plural(data.days.length, "day");
    $("analytics-status").textContent =
      data.reminders_sent || data.templates_sent || data.failed
        ? `${data.from} to ${data.to} · ${days}`
        : `${data.from} to ${data.to} · ${days} · no reminders were sent in this range`;
  }

  /** Fetch and show a range ({from, to}, either may be missing: the API's default). */
  async function load(range) {
    const seq = ++loadSeq;
    const params = new URLSearchParams();
    if (range && range.from) params.set("from", range.from);
    if (range && range.to) params.set("to", range.to);
    const query = params.toString();
    const view = $("analytics");
    view.setAttribute("aria-busy", "true");
    $("analytics-status").textContent = "Loading…";
    const result = await api("GET", `${base}/analytics?${query}`);
    if (seq !== loadSeq) return; // a newer range was asked for meanwhile
    view.setAttribute("aria-busy", "false");
    if (!result.ok) {
      if (result.status === 422) {
        showRangeError(detail(result));
        $("analytics-status").textContent = current ? `Still showing ${current.from} to ${current.to}.` : "";
      } else {
        showRangeError("");
        $("analytics-status").textContent = detail(result);
      }
      return;
    }
    showRangeError("");
    const data = result.data;
    $("range-from").value = data.from;
    $("range-to").value = data.to;
    if (query) {
      // The range the API answered for goes into the address bar: a link shows the same view.
      const url = new URL(window.location.href);
      url.searchParams.set("from", data.from);
      url.searchParams.set("to", data.to);
      history.replaceState(null, "", url);
    }
    render(data);
  }

  function loadInputs() {
    const from = $("range-from").value;
    const to = $("range-to").value;
    if (!from || !to) {
      showRangeError("Enter both dates (from and to).");
      return;
    }
    guard(() => load({ from, to }));
  }

  window.Pages.start(async () => {
    const params = new URLSearchParams(window.location.search);
    const from = params.get("from");
    const to = params.get("to");
    await load(from || to ? { from, to } : null);
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("range-from").addEventListener("change", loadInputs);
    $("range-to").addEventListener("change", loadInputs);
    $("range-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadInputs();
    });
    for (const button of document.querySelectorAll(".quick-ranges button")) {
      button.addEventListener("click", () => {
        const to = todayUtc();
        const from = addDays(to, 1 - Number(button.dataset.days));
        $("range-from").value = from;
        $("range-to").value = to;
        guard(() => load({ from, to }));
      });
    }
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const box = $("daily-chart");
        if (current && Math.abs(Math.round(box.clientWidth) - drawnWidth) > 8) drawChart(current);
      }, RESIZE_DELAY_MS);
    });
  });
})();
