// Leadpipe dashboard: a small single-page app over the JSON API. No build step, no
// dependencies. Every piece of data reaches the page as text (textContent / text nodes),
// never as HTML. Each refresh is ONE request for what is on screen (a page of leads, a
// run, a lead), repeated every POLL_MS only while something there is active and the tab
// is visible.
"use strict";

(() => {
  const STAGES = ["scrape", "intel", "strategy", "subject", "messaging"];
  const STAGE_LABELS = {
    scrape: "Scrape", intel: "Intel", strategy: "Strategy", subject: "Subject", messaging: "Email",
  };
  const STATUSES = ["pending", "queued", "started", "completed", "failed", "skipped", "cancelled"];
  const ACTIVE = new Set(["queued", "started"]);
  const ACTIVE_RUN = new Set(["queued", "running"]);
  const EVENT_STYLE = {
    paused: "paused", resumed: "completed", cancelled: "cancelled", retry_failed: "started",
    budget: "queued",
  };
  const KEY_NAME = "leadpipe-key";
  const POLL_MS = 1500;
  const PAGE_SIZE = 50;
  const REJECTIONS_PAGE = 100;

  // ------------------------------------------------------------------ DOM helpers

  /** An element with properties and children; strings become text nodes, never markup. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "dataset") Object.assign(el.dataset, value);
      else if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (name === "checked" || name === "disabled" || name === "value" ||
                 name === "indeterminate") el[name] = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    add(el, children);
    return el;
  }

  function add(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child == null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function clear(el) { el.replaceChildren(); return el; }
  /** Replace the children of ``el`` (arrays are flattened, strings are text). */
  const fill = (el, ...children) => add(clear(el), children);
  const $ = (sel, root = document) => root.querySelector(sel);

  /** Only http(s) links: a lead's URL is data, it must not become javascript:. */
  function safeUrl(url) {
    try {
      const parsed = new URL(String(url));
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function hostOf(url) {
    try { return new URL(String(url)).host; } catch (_) { return String(url || ""); }
  }

  // ------------------------------------------------------------------ formatting

  const num = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));

  function money(n) {
    if (n == null) return "–";
    const v = Number(n);
    return "$" + (v !== 0 && Math.abs(v) < 1 ? v.toFixed(4) : v.toFixed(2));
  }

  function duration(seconds) {
    if (seconds == null) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function ago(iso) {
    if (!iso) return "";
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!(s >= 0)) return "";
    if (s < 5) return "just now";
    if (s < 60) return `${Math.round(s)} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  function between(a, b) {
    if (!a || !b) return null;
    return (new Date(b).getTime() - new Date(a).getTime()) / 1000;
  }

  const plural = (n, word, many) => `${num(n)} ${n === 1 ? word : many || word + "s"}`;

  function chip(status, text) {
    return h("span", { class: `chip st-${status || "pending"}`, title: status || "" },
      text == null ? status || "–" : text);
  }

  function fitClass(score) {
    return score >= 70 ? "fit-high" : score >= 40 ? "fit-mid" : "fit-low";
  }

  function selectionText(sel) {
    if (!sel) return "";
    if (sel.import_id != null) return `Import #${sel.import_id}`;
    if (sel.all_pending) return "All pending leads";
    if (sel.lead_ids != null) return "Selected leads";
    return "";
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, title, description) {
      super(description ? `${title}: ${description}` : title);
      this.status = status;
      this.title = title;
      this.description = description;
    }
  }

  const getKey = () => localStorage.getItem(KEY_NAME) || "";

  async function problemOf(res) {
    try {
      const body = await res.json();
      return [body.title || `HTTP ${res.status}`, body.description || ""];
    } catch (_) {
      return [`HTTP ${res.status}`, res.statusText || ""];
    }
  }

  /** One API call with the stored key. A 401 sends the user to the key screen. */
  async function api(method, path, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${options.key ?? getKey()}` };
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      body = options.body;
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "Cannot reach the server", String(err.message || err));
    }
    if (!res.ok) {
      const [title, description] = await problemOf(res);
      const error = new ApiError(res.status, title, description);
      if (res.status === 401 && !options.key) keyRefused(error);
      throw error;
    }
    if (options.raw) return res;
    return res.status === 204 ? null : res.json();
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  /** Exports need the key header, so they are fetched and handed to the browser as a file. */
  async function download(path, button) {
    if (button) button.disabled = true;
    try {
      const res = await api("GET", path, { raw: true });
      const blob = await res.blob();
      const disposition = res.headers.get("Content-Disposition") || "";
      const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
      const name = match ? decodeURIComponent(match[1]) : path.split("?")[0].split("/").pop();
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(`Downloaded ${name}`);
    } catch (err) {
      if (err.status !== 401) toast(`Export failed: ${err.message}`, true);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function exportButtons(filter) {
    const q = query(filter);
    const csv = h("button", { class: "btn btn-small", type: "button", "data-export": "csv" }, "Export CSV");
    const xlsx = h("button", { class: "btn btn-small", type: "button", "data-export": "xlsx" }, "Export XLSX");
    csv.addEventListener("click", () => download(`/exports/leads.csv${q}`, csv));
    xlsx.addEventListener("click", () => download(`/exports/leads.xlsx${q}`, xlsx));
    return h("span", { class: "btn-group" }, csv, xlsx);
  }

  // ------------------------------------------------------------------ toasts, banner

  function toast(message, bad = false) {
    const el = h("div", { class: bad ? "toast bad" : "toast", role: "status" }, message);
    $("#toasts").append(el);
    setTimeout(() => el.remove(), bad ? 7000 : 3500);
  }

  function banner(message) {
    const el = $("#banner");
    el.hidden = !message;
    el.textContent = message || "";
  }

  function setLive(active) {
    const el = $("#live");
    el.hidden = false;
    el.classList.toggle("on", active);
    el.textContent = active
      ? `Live · updated ${new Date().toLocaleTimeString()}`
      : `Up to date · ${new Date().toLocaleTimeString()}`;
  }

  // ------------------------------------------------------------------ polling and routing

  const main = () => $("#main");
  let view = null; // {refresh(): Promise<boolean>} of what is on screen
  let generation = 0; // bumped on every navigation: late answers of an old view are ignored
  let timer = null;
  let busy = null; // the generation whose refresh is in flight
  let again = false; // asked for a refresh while one was in flight
  let lastActive = false;

  async function tick() {
    if (!view) return;
    if (busy === generation) {
      again = true;
      return;
    }
    again = false;
    const mine = generation;
    busy = mine;
    clearTimeout(timer);
    let active = false;
    try {
      active = await view.refresh(mine);
      if (mine !== generation) return;
      banner(null);
      lastActive = Boolean(active);
      setLive(lastActive);
    } catch (err) {
      if (mine !== generation || err.status === 401) return;
      banner(`Could not refresh: ${err.message}`);
      active = true; // try again: the server may be back in a moment
    } finally {
      if (busy === mine) busy = null;
    }
    if (mine !== generation) return;
    if (again) tick();
    else schedule(active);
  }

  function schedule(active) {
    clearTimeout(timer);
    timer = null;
    if (active && document.visibilityState === "visible") timer = setTimeout(tick, POLL_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      if (lastActive) tick();
    } else {
      clearTimeout(timer);
      timer = null;
    }
  });

  function parseHash() {
    const raw = location.hash.replace(/^#/, "");
    const [path, q] = raw.split("?");
    return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(q || "") };
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function route() {
    generation += 1;
    clearTimeout(timer);
    view = null;
    banner(null);
    if (!getKey()) {
      showKeyScreen();
      return;
    }
    $("#key-button").hidden = false;
    const { parts, params } = parseHash();
    const [first, second] = parts;
    const id = second && /^\d+$/.test(second) ? Number(second) : null;
    let tab = "leads";
    if (first === "leads" && id) view = leadView(id);
    else if (first === "runs" && id) { tab = "runs"; view = runView(id); }
    else if (first === "runs") { tab = "runs"; view = runsView(params); }
    else if (first === "imports" && id) { tab = "import"; view = importView(id); }
    else if (first === "import" || first === "imports") { tab = "import"; view = uploadView(); }
    else view = leadsView(params);
    for (const a of document.querySelectorAll(".tabs a")) {
      a.classList.toggle("active", a.dataset.tab === tab);
    }
    tick();
  }

  // ------------------------------------------------------------------ API key

  let keyMessage = "";

  function keyRefused(error) {
    localStorage.removeItem(KEY_NAME);
    keyMessage = `The server refused the API key (${error.title}): ${error.description}`;
    route();
  }

  function showKeyScreen() {
    $("#key-button").hidden = true;
    $("#live").hidden = true;
    for (const a of document.querySelectorAll(".tabs a")) a.classList.remove("active");
    const input = h("input", {
      type: "password", id: "api-key", name: "api-key", placeholder: "lp_…",
      autocomplete: "off", spellcheck: "false", "aria-label": "API key",
    });
    const error = h("p", { class: "error-text", id: "key-error", role: "alert" }, keyMessage);
    error.hidden = !keyMessage;
    const button = h("button", { class: "btn btn-primary", type: "submit", id: "key-submit" }, "Connect");
    const form = h("form", {}, input, button);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      error.hidden = true;
      try {
        await api("GET", "/runs?limit=1", { key });
        localStorage.setItem(KEY_NAME, key);
        keyMessage = "";
        route();
      } catch (err) {
        error.textContent = err.status === 401
          ? `Wrong key: ${err.description || err.title}`
          : `Could not check the key: ${err.message}`;
        error.hidden = false;
        button.disabled = false;
        input.select();
      }
    });
    fill(main(), h("div", { class: "panel keycard" }, h("div", { class: "panel-body" },
      h("h1", {}, "Connect to Leadpipe"),
      h("p", {}, "Paste an API key. It is kept in this browser only. Create one with ",
        h("code", {}, "leadpipe keys create"), "."),
      form, error)));
    input.focus();
  }

  $("#key-button").addEventListener("click", () => {
    if (!confirm("Forget the API key stored in this browser and enter another one?")) return;
    localStorage.removeItem(KEY_NAME);
    keyMessage = "";
    route();
  });

  // ------------------------------------------------------------------ Customize dialog

  /** Customize a selection: {lead_ids: [...]} or {import_id: N}; shows the estimate first. */
  function customizeDialog(selection, label) {
    const estimateBody = selection.import_id != null
      ? { filter: { import: selection.import_id } }
      : { lead_ids: selection.lead_ids };
    const estimate = h("div", { id: "estimate", class: "loading" }, "Estimating cost…");
    const budget = h("input", { type: "number", min: "0", step: "0.01", id: "budget", placeholder: "no cap" });
    const from = h("select", { id: "from-stage" },
      h("option", { value: "" }, "Scrape (leads never run)"),
      STAGES.slice(1).map((s) => h("option", { value: s }, `Re-run from ${STAGE_LABELS[s]}`)));
    const outcome = h("p", { class: "error-text", role: "alert" });
    outcome.hidden = true;
    const start = h("button", { class: "btn btn-primary", type: "button", id: "start-run" }, "Start run");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const dialog = h("dialog", { "aria-labelledby": "customize-title" },
      h("div", { class: "dialog-head" }, h("h2", { id: "customize-title" }, `Customize ${label}`)),
      h("div", { class: "dialog-body" },
        estimate,
        h("div", { class: "form-row" },
          h("label", { class: "field" }, "Start at", from),
          h("label", { class: "field" }, "Budget (USD, optional)", budget)),
        outcome),
      h("div", { class: "dialog-foot" },
        h("span", { class: "note" }, "Leads already in an active run are left alone."),
        cancel, start));
    const close = () => { dialog.close(); dialog.remove(); };
    cancel.addEventListener("click", close);
    dialog.addEventListener("cancel", () => setTimeout(() => dialog.remove(), 0));
    start.addEventListener("click", async () => {
      start.disabled = true;
      outcome.hidden = true;
      const body = { ...selection };
      if (from.value) body.from_stage = from.value;
      if (budget.value !== "") body.budget_usd = Number(budget.value);
      try {
        const report = await api("POST", "/runs", { json: body });
        if (report.run_id) {
          close();
          toast(`Run #${report.run_id} started: ${plural(report.queued.length, "lead")} queued`);
          go(`#/runs/${report.run_id}`);
          return;
        }
        outcome.textContent = "Nothing to start: " + [
          report.already_active.length && `${plural(report.already_active.length, "lead")} already in an active run`,
          report.skipped.length && `${num(report.skipped.length)} skipped`,
          report.not_found.length && `${num(report.not_found.length)} not found`,
        ].filter(Boolean).join(", ") + (from.value ? "" : " (already customized leads need “Re-run from …”)");
        outcome.hidden = false;
      } catch (err) {
        if (err.status === 401) { close(); return; }
        outcome.textContent = err.message;
        outcome.hidden = false;
      }
      start.disabled = false;
    });
    document.body.append(dialog);
    dialog.showModal();
    api("POST", "/estimate", { json: estimateBody }).then(
      (est) => estimate.replaceWith(estimateView(est)),
      (err) => { if (err.status !== 401) estimate.textContent = `No estimate: ${err.message}`; },
    );
  }

  function estimateView(est) {
    const skipped = est.skipped || {};
    const why = [
      skipped.no_url && `${num(skipped.no_url)} without a URL`,
      skipped.already_done && `${num(skipped.already_done)} already done`,
      skipped.in_flight && `${num(skipped.in_flight)} in flight`,
    ].filter(Boolean).join(", ");
    const notFound = Array.isArray(est.not_found) ? est.not_found.length : est.not_found;
    const rows = Object.entries(est.stages || {}).map(([stage, s]) => h("tr", {},
      h("td", {}, STAGE_LABELS[stage] || stage),
      h("td", { class: "num" }, num(s.input_tokens)),
      h("td", { class: "num" }, num(s.output_tokens)),
      h("td", { class: "num" }, money(s.cost_usd)),
      h("td", { class: "faint small" }, s.basis === "observed" ? `observed (${s.samples})` : "upper bound")));
    return h("div", { id: "estimate" },
      h("div", { class: "estimate-total" },
        h("span", { class: "big", id: "estimate-cost" }, money(est.total && est.total.cost_usd)),
        h("span", { class: "muted" }, est.basis === "observed"
          ? "estimated LLM cost, from recent results"
          : "at most, estimated LLM cost (no history yet)")),
      h("p", { class: "muted small" },
        `${plural(est.processed, "lead")} will be processed`,
        skipped.total ? `; ${num(skipped.total)} skipped (${why})` : "",
        notFound ? `; ${num(notFound)} not found` : "", "."),
      h("table", { class: "data" },
        h("thead", {}, h("tr", {}, h("th", {}, "Stage"), h("th", { class: "num" }, "Input tokens"),
          h("th", { class: "num" }, "Output tokens"), h("th", { class: "num" }, "Cost"), h("th", {}, "Basis"))),
        h("tbody", {}, rows)));
  }

  // ------------------------------------------------------------------ leads view

  function leadsView(params) {
    const filter = {
      stage: params.get("stage") || "",
      state: params.get("state") || "",
      run: params.get("run") || "",
      import: params.get("import") || "",
    };
    const cursors = [null]; // the `after` of each page visited
    let page = 0;
    let next = null;
    let items = [];
    const selected = new Set();

    const stageSel = h("select", { id: "filter-stage", "aria-label": "Stage" },
      h("option", { value: "" }, "Any stage"),
      STAGES.map((s) => h("option", { value: s, selected: s === filter.stage }, STAGE_LABELS[s])));
    const stateSel = h("select", { id: "filter-state", "aria-label": "State" },
      h("option", { value: "" }, "Any state"),
      STATUSES.map((s) => h("option", { value: s, selected: s === filter.state }, s)));
    const onFilter = () => {
      go("#/leads" + query({ ...filter, stage: stageSel.value, state: stateSel.value }));
    };
    stageSel.addEventListener("change", onFilter);
    stateSel.addEventListener("change", onFilter);

    const tags = [];
    for (const [key, label] of [["run", "Run"], ["import", "Import"]]) {
      if (!filter[key]) continue;
      const remove = h("button", { type: "button", "aria-label": `Remove the ${label} filter` }, "×");
      remove.addEventListener("click", () => go("#/leads" + query({ ...filter, [key]: "" })));
      tags.push(h("span", { class: "filter-tag" }, `${label} #${filter[key]}`, remove));
    }

    const customize = h("button", { class: "btn btn-primary", type: "button", id: "customize", disabled: true }, "Customize");
    customize.addEventListener("click", () => {
      const ids = [...selected];
      customizeDialog({ lead_ids: ids }, plural(ids.length, "lead"));
    });
    const clearSel = h("button", { class: "btn btn-small btn-ghost", type: "button" }, "Clear selection");
    clearSel.addEventListener("click", () => { selected.clear(); render(); });
    const note = h("span", { class: "selection-note", id: "selection-note" });

    const allBox = h("input", { type: "checkbox", id: "select-page", "aria-label": "Select every lead on this page" });
    allBox.addEventListener("change", () => {
      for (const item of items) {
        if (allBox.checked) selected.add(item.id);
        else selected.delete(item.id);
      }
      render();
    });
    const tbody = h("tbody", { id: "leads-body" });
    const prev = h("button", { class: "btn btn-small", type: "button", id: "prev-page" }, "← Previous");
    const nextBtn = h("button", { class: "btn btn-small", type: "button", id: "next-page" }, "Next →");
    const pageInfo = h("span", { id: "page-info" });
    prev.addEventListener("click", () => { if (page > 0) { page -= 1; tick(); } });
    nextBtn.addEventListener("click", () => {
      if (!next) return;
      cursors[page + 1] = next;
      page += 1;
      tick();
    });

    const apiFilter = () => {
      // stage + state: that stage's status; stage alone: the current stage; state alone:
      // the state of the stage each lead is at now.
      const f = { run: filter.run, import: filter.import };
      if (filter.stage) f.stage = filter.stage;
      if (filter.state) f[filter.stage ? "state" : "status"] = filter.state;
      return f;
    };

    const headers = h("tr", {},
      h("th", { class: "check" }, allBox),
      h("th", { class: "num" }, "ID"), h("th", {}, "Lead"), h("th", {}, "Company"),
      STAGES.map((s) => h("th", { class: "stage-cell" }, STAGE_LABELS[s])),
      h("th", { class: "num" }, "Fit"), h("th", {}, "Subject / error"));

    fill(main(), 
      h("div", { class: "page-head" },
        h("div", {}, h("h1", {}, "Leads"),
          h("div", { class: "sub" }, "Select leads and press Customize to start a run.")),
        h("div", { class: "actions" }, exportButtons(apiFilter()))),
      h("div", { class: "panel" },
        h("div", { class: "toolbar" },
          h("label", { class: "field" }, "Stage", stageSel),
          h("label", { class: "field" }, "State", stateSel),
          tags.length ? h("div", { class: "actions" }, tags) : null,
          h("div", { class: "grow" }),
          note, clearSel, customize),
        h("div", { class: "table-wrap" },
          h("table", { class: "data", id: "leads-table" }, h("thead", {}, headers), tbody)),
        h("div", { class: "pager" }, pageInfo,
          h("div", { class: "actions" }, prev, nextBtn))));

    function row(item) {
      const box = h("input", { type: "checkbox", checked: selected.has(item.id), "aria-label": `Select lead ${item.id}` });
      box.addEventListener("click", (ev) => ev.stopPropagation());
      box.addEventListener("change", () => {
        if (box.checked) selected.add(item.id);
        else selected.delete(item.id);
        render();
      });
      const url = safeUrl(item.company_url);
      const tr = h("tr", {
        class: "clickable" + (selected.has(item.id) ? " selected" : ""),
        dataset: { id: item.id },
      },
        h("td", { class: "check" }, box),
        h("td", { class: "num faint" }, item.id),
        h("td", {},
          h("div", { class: "cell-main", title: item.name || "" },
            h("a", { href: `#/leads/${item.id}` }, item.name || item.email)),
          h("div", { class: "cell-sub" }, item.email)),
        h("td", {},
          h("div", { class: "cell-company", title: item.company || "" }, item.company || "–"),
          h("div", { class: "cell-sub" }, url ? hostOf(url) + new URL(url).pathname : "no URL")),
        STAGES.map((s) => h("td", { class: "stage-cell" }, chip(item.stages[s]))),
        h("td", { class: "num" }, item.fit_score == null ? h("span", { class: "faint" }, "–")
          : h("span", { class: `fit-badge ${fitClass(item.fit_score)}` }, item.fit_score)),
        h("td", {}, item.error
          ? h("div", { class: "err-cell", title: item.error }, item.error)
          : h("div", { class: "subject-cell", title: item.subject || "" }, item.subject || "")));
      tr.addEventListener("click", (ev) => {
        if (ev.target.closest("a, input, button")) return;
        go(`#/leads/${item.id}`);
      });
      return tr;
    }

    function render() {
      clear(tbody);
      if (!items.length) {
        tbody.append(h("tr", {}, h("td", { colspan: 4 + STAGES.length + 2, class: "empty" },
          page ? "No more leads." : "No leads match. Import a CSV file to add some.")));
      }
      for (const item of items) tbody.append(row(item));
      const onPage = items.filter((i) => selected.has(i.id)).length;
      allBox.checked = items.length > 0 && onPage === items.length;
      allBox.indeterminate = onPage > 0 && onPage < items.length;
      customize.disabled = selected.size === 0;
      customize.textContent = selected.size ? `Customize ${plural(selected.size, "lead")}` : "Customize";
      note.textContent = selected.size ? `${num(selected.size)} selected` : "";
      clearSel.hidden = selected.size === 0;
      const first = items.length ? page * PAGE_SIZE + 1 : 0;
      pageInfo.textContent = items.length
        ? `Page ${page + 1} · leads ${num(first)}–${num(first + items.length - 1)}`
        : `Page ${page + 1}`;
      prev.disabled = page === 0;
      nextBtn.disabled = !next;
    }

    return {
      async refresh(gen) {
        const body = await api("GET", "/leads" + query({ ...apiFilter(), limit: PAGE_SIZE, after: cursors[page] }));
        if (gen !== generation) return false;
        items = body.items;
        next = body.next;
        render();
        return items.some((i) => ACTIVE.has(i.current_state) ||
          STAGES.some((s) => ACTIVE.has(i.stages[s])));
      },
    };
  }

  // ------------------------------------------------------------------ runs list

  function runsView(params) {
    const cursors = [null];
    let page = 0;
    let next = null;
    const tbody = h("tbody", { id: "runs-body" });
    const prev = h("button", { class: "btn btn-small", type: "button" }, "← Newer");
    const older = h("button", { class: "btn btn-small", type: "button" }, "Older →");
    prev.addEventListener("click", () => { if (page > 0) { page -= 1; tick(); } });
    older.addEventListener("click", () => { if (next) { cursors[page + 1] = next; page += 1; tick(); } });
    fill(main(), 
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Runs"),
        h("div", { class: "sub" }, "Every Customize starts a run. Newest first."))),
      h("div", { class: "panel" },
        h("div", { class: "table-wrap" }, h("table", { class: "data" },
          h("thead", {}, h("tr", {},
            h("th", { class: "num" }, "Run"), h("th", {}, "Status"), h("th", {}, "Selection"),
            h("th", {}, "Progress"), h("th", { class: "num" }, "Leads"), h("th", { class: "num" }, "Emails"),
            h("th", { class: "num" }, "Failed"), h("th", { class: "num" }, "Avg fit"),
            h("th", { class: "num" }, "Spent"), h("th", {}, "Started"))),
          tbody)),
        h("div", { class: "pager" }, h("span", {}, ""), h("div", { class: "actions" }, prev, older))));

    return {
      async refresh(gen) {
        const body = await api("GET", "/runs" + query({ limit: PAGE_SIZE, after: cursors[page] }));
        if (gen !== generation) return false;
        next = body.next;
        prev.disabled = page === 0;
        older.disabled = !next;
        clear(tbody);
        if (!body.items.length) {
          tbody.append(h("tr", {}, h("td", { colspan: 10, class: "empty" },
            "No runs yet. Select leads and press Customize.")));
        }
        for (const run of body.items) {
          const leads = run.leads || {};
          const done = run.lead_count - (leads.active ?? run.lead_count);
          const tr = h("tr", { class: "clickable" },
            h("td", { class: "num" }, h("a", { href: `#/runs/${run.id}` }, `#${run.id}`)),
            h("td", {}, chip(run.status === "running" ? "running" : run.status, run.status)),
            h("td", {}, selectionText(run.selection)),
            h("td", {}, progressBar(run.counts, run.lead_count, true)),
            h("td", { class: "num" }, `${num(done)} / ${num(run.lead_count)}`),
            h("td", { class: "num" }, num(leads.completed ?? 0)),
            h("td", { class: "num" }, leads.failed ? h("span", { class: "error-text" }, num(leads.failed)) : "0"),
            h("td", { class: "num" }, run.fit_score_avg == null ? "–" : Math.round(run.fit_score_avg)),
            h("td", { class: "num" }, money(run.spent_usd) + (run.budget_usd != null ? ` / ${money(run.budget_usd)}` : "")),
            h("td", { class: "nowrap small", title: when(run.started_at) }, ago(run.started_at || run.created_at)));
          tr.addEventListener("click", (ev) => { if (!ev.target.closest("a")) go(`#/runs/${run.id}`); });
          tbody.append(tr);
        }
        return body.items.some((r) => ACTIVE_RUN.has(r.status));
      },
    };
  }

  /** Segments of one bar from a run's {stage: {status: n}} (all stages summed when thin). */
  function segments(per, total) {
    const c = (s) => Number(per[s] || 0);
    return [
      ["completed", c("completed")],
      ["failed", c("failed")],
      ["stopped", c("skipped") + c("cancelled")],
      ["active", c("queued") + c("started")],
    ].map(([kind, n]) => [kind, total ? (100 * n) / total : 0, n]);
  }

  function bar(per, total, thin = false) {
    const el = h("div", { class: thin ? "bar thin" : "bar", role: "progressbar" });
    for (const [kind, pct, n] of segments(per, total)) {
      if (!n) continue;
      const seg = h("span", { class: `seg-${kind}`, title: `${n} ${kind}` });
      seg.style.width = `${pct.toFixed(2)}%`;
      el.append(seg);
    }
    return el;
  }

  function progressBar(counts, total, thin) {
    // The last stage says how many leads are through; a lead stopped earlier counts as
    // stopped there, so sum the finished states of every stage for the overall bar.
    const per = { completed: 0, failed: 0, skipped: 0, cancelled: 0, queued: 0, started: 0 };
    const c = counts || {};
    per.completed = Number((c.messaging || {}).completed || 0);
    for (const s of STAGES) {
      const st = c[s] || {};
      for (const k of ["failed", "skipped", "cancelled", "queued", "started"]) per[k] += Number(st[k] || 0);
    }
    return bar(per, total, thin);
  }

  // ------------------------------------------------------------------ run view

  function runView(runId) {
    const root = h("div", { id: "run-view", dataset: { run: runId } }, h("div", { class: "loading" }, "Loading run…"));
    fill(main(), root);
    let lastRun = null;

    async function act(action, button) {
      if (action === "cancel" &&
          !confirm(`Cancel run #${runId}? Its unfinished stages are marked cancelled.`)) return;
      button.disabled = true;
      try {
        const res = await api("POST", `/runs/${runId}/${action}`);
        const extra = res.requeued != null ? `: ${plural(res.requeued, "stage")} requeued`
          : res.cancelled_leads != null ? `: ${plural(res.cancelled_leads, "lead")} cancelled` : "";
        toast(`Run #${runId}: ${action.replace("-", " ")} done${extra}`);
        render(res.run);
        lastActive = true;
        schedule(true);
      } catch (err) {
        if (err.status !== 401) toast(`${action} failed: ${err.message}`, true);
        button.disabled = false;
      }
    }

    async function saveBudget(input, button) {
      const value = input.value.trim();
      button.disabled = true;
      try {
        const run = await api("PATCH", `/runs/${runId}`, { json: { budget_usd: value === "" ? null : Number(value) } });
        toast(value === "" ? "Budget removed" : `Budget set to ${money(Number(value))}`);
        render(run);
      } catch (err) {
        if (err.status !== 401) toast(`Budget not saved: ${err.message}`, true);
      }
      button.disabled = false;
    }

    function button(label, action, enabled, cls = "btn") {
      const b = h("button", { class: cls, type: "button", "data-action": action, disabled: !enabled }, label);
      b.addEventListener("click", () => act(action, b));
      return b;
    }

    function render(run) {
      lastRun = run;
      const leads = run.leads || {};
      const counts = run.counts || {};
      const total = run.lead_count;
      const anyFailed = STAGES.some((s) => (counts[s] || {}).failed);
      const done = total - (leads.active ?? total);
      const running = ACTIVE_RUN.has(run.status);

      const budgetInput = h("input", { type: "number", min: "0", step: "0.01", placeholder: "no cap",
        value: run.budget_usd == null ? "" : String(run.budget_usd), "aria-label": "Budget in USD" });
      budgetInput.style.width = "110px";
      const budgetSave = h("button", { class: "btn btn-small", type: "button" }, "Set budget");
      budgetSave.addEventListener("click", () => saveBudget(budgetInput, budgetSave));

      const expected = expectedPerStage(counts, total);
      const stageRows = STAGES.map((s, i) => {
        const per = counts[s] || {};
        const finished = ["completed", "failed", "skipped", "cancelled"].reduce((a, k) => a + Number(per[k] || 0), 0);
        const parts = [["completed", "completed"], ["failed", "failed"], ["skipped", "skipped"],
          ["cancelled", "cancelled"], ["started", "running"], ["queued", "queued"]]
          .filter(([k]) => per[k]).map(([k, label]) => `${num(per[k])} ${label}`);
        return [
          h("div", { class: "stage-name" }, STAGE_LABELS[s]),
          bar(per, expected[i]),
          h("div", { class: "frac", dataset: { stage: s } }, `${num(finished)} / ${num(expected[i])}`),
          h("div", { class: "small muted" }, parts.join(" · ") || "waiting"),
        ];
      });

      const events = (run.events || []).map((e) => h("tr", {},
        h("td", { class: "nowrap small" }, when(e.created_at)),
        h("td", {}, chip(EVENT_STYLE[e.kind] || "pending", e.kind)),
        h("td", { class: "small mono" }, e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : "")));

      fill(root, 
        h("div", { class: "page-head" },
          h("div", {},
            h("h1", {}, `Run #${run.id} `, chip(run.status === "running" ? "running" : run.status, run.status)),
            h("div", { class: "sub" }, [
              selectionText(run.selection),
              `${plural(total, "lead")}`,
              run.from_stage && run.from_stage !== "scrape" ? `re-run from ${STAGE_LABELS[run.from_stage]}` : null,
              run.started_at ? `started ${when(run.started_at)}` : null,
              run.finished_at ? `finished ${when(run.finished_at)} (${duration(between(run.started_at, run.finished_at))})` : null,
            ].filter(Boolean).join(" · "))),
          h("div", { class: "actions" },
            button("Pause", "pause", running),
            button("Resume", "resume", run.status === "paused"),
            button("Retry failed", "retry-failed", anyFailed),
            button("Cancel run", "cancel", running || run.status === "paused", "btn btn-danger"))),
        run.paused_reason ? h("div", { class: "errorbox" }, `Paused: ${run.paused_reason}`) : null,
        h("div", { class: "stats" },
          stat("Leads done", `${num(done)} / ${num(total)}`,
            `${num(leads.completed ?? 0)} emails · ${num(leads.failed ?? 0)} failed · ${num(leads.skipped ?? 0)} skipped`),
          stat("Active", num(leads.active ?? (running ? total : 0)),
            !(leads.active ?? running) ? "nothing in flight"
              : run.status === "paused" ? "leads in flight or parked" : "leads in flight"),
          stat("ETA", running ? (run.eta_seconds == null ? "…" : duration(run.eta_seconds)) : "–",
            running ? "at the rate so far" : run.status),
          stat("Spent", money(run.spent_usd), run.budget_usd == null ? "no budget cap" : `of ${money(run.budget_usd)} budget`),
          stat("Avg fit score", run.fit_score_avg == null ? "–" : String(Math.round(run.fit_score_avg)),
            `${num((run.tokens || {}).input)} in / ${num((run.tokens || {}).output)} out tokens`)),
        h("div", { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Progress by stage"),
            h("div", { class: "grow" }),
            h("a", { class: "btn btn-small", href: `#/leads?run=${run.id}`, id: "run-leads" }, "View leads"),
            exportButtons({ run: run.id })),
          h("div", { class: "panel-body" },
            h("div", { class: "progress-rows", id: "stage-progress" }, stageRows),
            h("div", { class: "legend" },
              legend("#2f9e61", "completed"), legend("#d9473b", "failed"),
              legend("#a5afbe", "skipped / cancelled"), legend("#7b98f6", "in flight")))),
        h("div", { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Budget"), h("div", { class: "grow" }),
            h("span", { class: "small muted" }, "A run pauses itself when its LLM spend reaches the cap.")),
          h("div", { class: "panel-body actions" }, budgetInput, budgetSave)),
        h("div", { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Events")),
          events.length
            ? h("table", { class: "data", id: "run-events" }, h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "What"), h("th", {}, "Detail"))),
              h("tbody", {}, events))
            : h("div", { class: "empty small" }, "Nobody paused, resumed, cancelled or retried this run.")));
    }

    return {
      async refresh(gen) {
        const run = await api("GET", `/runs/${runId}`);
        if (gen !== generation) return false;
        render(run);
        // A paused run changes only while the work it had in flight finishes.
        const started = STAGES.some((s) => ((run.counts || {})[s] || {}).started);
        return ACTIVE_RUN.has(run.status) || (run.status === "paused" && started);
      },
      get run() { return lastRun; },
    };
  }

  function stat(label, value, note, cls) {
    return h("div", { class: cls ? `stat ${cls}` : "stat" },
      h("div", { class: "label" }, label), h("div", { class: "value" }, value),
      note ? h("div", { class: "note" }, note) : null);
  }

  /** How many leads each stage will see finish: a lead stopped at one stage stays pending in
   *  every later one, so a stage expects the leads not pending there plus those still in
   *  flight upstream (the same arithmetic as the command line's progress bars). */
  function expectedPerStage(counts, total) {
    let upstream = 0;
    return STAGES.map((s) => {
      const per = counts[s] || {};
      const want = Math.max(0, Math.min(total, total - Number(per.pending || 0) + upstream));
      upstream += Number(per.queued || 0) + Number(per.started || 0);
      return want;
    });
  }

  function legend(color, label) {
    const i = h("i");
    i.style.background = color;
    return h("span", {}, i, label);
  }

  // ------------------------------------------------------------------ lead view

  function leadView(leadId) {
    const root = h("div", { id: "lead-view" }, h("div", { class: "loading" }, "Loading lead…"));
    fill(main(), root);
    const gen = generation;
    let versions = null;
    let lastLead = null;
    api("GET", `/leads/${leadId}/versions`).then((v) => {
      versions = v.items;
      if (lastLead && versions.length && gen === generation) render(lastLead);
    }, () => { versions = []; });

    function stageCard(lead, stage, index) {
      const st = lead.stages[stage] || {};
      const took = between(st.started_at, st.completed_at);
      const facts = [
        st.attempt ? `attempt ${st.attempt}` : null,
        st.attempt ? `${plural(st.retry_count || 0, "retry", "retries")}` : null,
        took != null && st.status === "completed" ? `took ${duration(took)}` : null,
        st.completed_at ? `at ${when(st.completed_at)}` : st.started_at ? `started ${when(st.started_at)}` : null,
      ].filter(Boolean);
      const body = h("div", { class: "panel-body" });
      if (st.error) body.append(h("div", { class: "errorbox" }, st.error));
      const result = st.result;
      if (result) body.append(resultView(stage, result, lead));
      else if (!st.error) {
        const stopped = STAGES.slice(0, index).find((s) =>
          ["failed", "skipped", "cancelled"].includes(lead.stages[s].status));
        body.append(h("div", { class: "muted small" }, st.status === "pending" && stopped
          ? `Not reached: the lead stopped at ${STAGE_LABELS[stopped]} (${lead.stages[stopped].status}).`
          : {
          pending: "Not started yet.", queued: "Queued: waiting for a worker.",
          started: "Running now…", skipped: "Skipped.", cancelled: "Cancelled.",
        }[st.status] || "No result."));
      }
      return h("section", { class: "panel stage-card", id: `stage-${stage}`, dataset: { status: st.status } },
        h("div", { class: "panel-head" },
          h("span", { class: "stage-num" }, index + 1),
          h("h3", {}, STAGE_LABELS[stage]), chip(st.status),
          h("div", { class: "facts" }, facts.map((f) => h("span", {}, f)))),
        body);
    }

    function resultView(stage, r, lead) {
      if (stage === "scrape") {
        const pages = Array.isArray(r.pages) ? r.pages : [];
        const first = pages[0] || {};
        const excerpt = String(first.content || "").slice(0, 700);
        return h("div", {},
          h("p", { class: "muted small" }, `${plural(r.totalPages ?? pages.length, "page")} · ${num(r.wordCount)} words`),
          h("ul", { class: "pages" }, pages.map((p) => {
            const url = safeUrl(p.url);
            return h("li", {}, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, p.title || p.url) : p.title || p.url,
              h("span", { class: "faint" }, ` · ${num(p.wordCount)} words`));
          })),
          excerpt ? h("pre", { class: "textblock excerpt", id: "scrape-excerpt" },
            excerpt + (String(first.content || "").length > 700 ? "…" : "")) : null,
          pages.length ? h("details", {}, h("summary", {}, "All scraped text"),
            pages.map((p) => h("div", {}, h("h3", { class: "small" }, p.url),
              h("pre", { class: "textblock excerpt" }, String(p.content || "").slice(0, 8000))))) : null);
      }
      if (stage === "intel") {
        const score = r.fit_score;
        return h("div", {},
          score == null ? null : h("div", { class: "fit" },
            h("div", { class: `fit-score ${fitClass(score)}`, id: "fit-score" }, score),
            h("div", {}, h("div", { class: "cell-main" }, "Fit score"),
              h("div", { class: "muted small" }, score >= 70 ? "Strong fit" : score >= 40 ? "Possible fit" : "Weak fit"))),
          h("pre", { class: "textblock" }, r.text || ""));
      }
      if (stage === "subject") {
        const options = Array.isArray(r.options) ? r.options : [];
        return options.length
          ? h("ol", { class: "options" }, options.map((o) => h("li", { class: o === r.chosen ? "chosen" : "" },
            o, o === r.chosen ? [" ", chip("completed", "chosen")] : null)))
          : h("pre", { class: "textblock" }, r.text || "");
      }
      if (stage === "messaging") {
        const subject = r.subject || (lead.stages.subject.result || {}).chosen || "";
        const copy = h("button", { class: "btn btn-small", type: "button" }, "Copy email");
        copy.addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(`Subject: ${subject}\n\n${r.body || r.text || ""}`);
            toast("Email copied");
          } catch (_) {
            toast("The browser did not allow copying", true);
          }
        });
        return h("div", {},
          h("div", { class: "email", id: "email" },
            h("div", { class: "email-head" },
              h("span", { class: "k" }, "To"), h("span", {}, `${lead.name || ""} <${lead.email}>`),
              h("span", { class: "k" }, "Subject"), h("span", { class: "subject", id: "email-subject" }, subject)),
            h("pre", { class: "email-body", id: "email-body" }, r.body || r.text || "")),
          h("div", { class: "actions", style: "margin-top:.75rem" }, copy));
      }
      return h("pre", { class: "textblock" }, r.text || JSON.stringify(r, null, 2));
    }

    function versionsPanel() {
      if (!versions || !versions.length) return null;
      return h("div", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Earlier versions"),
          h("span", { class: "small muted" }, "Results a re-run replaced, oldest first")),
        h("table", { class: "data" },
          h("thead", {}, h("tr", {}, h("th", {}, "Stage"), h("th", {}, "Attempt"), h("th", {}, "Status"),
            h("th", {}, "Run"), h("th", {}, "Replaced"), h("th", {}, "Result"))),
          h("tbody", {}, versions.map((v) => h("tr", {},
            h("td", {}, STAGE_LABELS[v.stage] || v.stage), h("td", {}, v.attempt), h("td", {}, chip(v.status)),
            h("td", {}, v.run_id ? h("a", { href: `#/runs/${v.run_id}` }, `#${v.run_id}`) : "–"),
            h("td", { class: "small nowrap" }, when(v.replaced_at)),
            h("td", {}, v.error ? h("span", { class: "error-text small" }, v.error)
              : h("details", {}, h("summary", {}, "show"),
                h("pre", { class: "textblock excerpt" },
                  (v.result && (v.result.body || v.result.text)) || JSON.stringify(v.result, null, 2)))))))));
    }

    function render(lead) {
      const url = safeUrl(lead.company_url);
      const open = new Set([...root.querySelectorAll("details[open]")].map((d) => d.closest("section")?.id));
      fill(root, 
        h("div", { class: "page-head" },
          h("div", {}, h("div", { class: "small" }, h("a", { href: "#/leads" }, "← Leads"))),
          h("div", { class: "actions" })),
        h("div", { class: "panel" }, h("div", { class: "panel-body lead-head" },
          h("div", { class: "who" },
            h("h1", { id: "lead-name" }, lead.name || lead.email),
            h("div", { class: "muted" }, [lead.title, lead.company].filter(Boolean).join(" at ")),
            h("div", { class: "meta" },
              h("span", {}, lead.email),
              url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, hostOf(url)) : h("span", {}, "no company URL"),
              lead.run_id ? h("a", { href: `#/runs/${lead.run_id}` }, `Run #${lead.run_id}`) : h("span", {}, "not customized yet"),
              h("span", {}, `Lead #${lead.id}`)),
            h("div", { class: "pipeline" }, STAGES.map((s) => chip(lead.stages[s].status, STAGE_LABELS[s])))),
          h("dl", { class: "kv" },
            h("dt", {}, "LLM tokens"), h("dd", {}, `${num(lead.tokens.input)} in / ${num(lead.tokens.output)} out`),
            h("dt", {}, "Cost"), h("dd", {}, money(lead.cost_usd)),
            h("dt", {}, "Created"), h("dd", {}, when(lead.created_at)),
            h("dt", {}, "Updated"), h("dd", {}, when(lead.updated_at))))),
        STAGES.map((s, i) => stageCard(lead, s, i)),
        versionsPanel());
      for (const id of open) root.querySelector(`#${id} details`)?.setAttribute("open", "");
    }

    return {
      async refresh(gen) {
        const lead = await api("GET", `/leads/${leadId}`);
        if (gen !== generation) return false;
        lastLead = lead;
        render(lead);
        return STAGES.some((s) => ACTIVE.has(lead.stages[s].status));
      },
    };
  }

  // ------------------------------------------------------------------ imports

  function uploadView() {
    const file = h("input", { type: "file", id: "csv-file", accept: ".csv,text/csv", "aria-label": "CSV file" });
    const dedupe = h("select", { id: "dedupe" },
      h("option", { value: "email" }, "Same email"), h("option", { value: "domain" }, "Same email or domain"));
    const upload = h("button", { class: "btn btn-primary", type: "button", id: "upload" }, "Upload");
    const status = h("p", { class: "error-text", role: "alert" });
    status.hidden = true;
    const zone = h("div", { class: "dropzone", id: "dropzone" },
      h("div", { class: "cell-main" }, "Drop a CSV file here, or choose one"),
      h("div", { class: "hint" },
        "Columns are matched by name: email (required), name or first/last name, company, website / url / domain, title. ",
        "Other columns are listed as ignored."),
      h("div", { class: "upload-row" },
        h("label", { class: "field" }, "File", file),
        h("label", { class: "field" }, "Duplicates", dedupe),
        upload));
    zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      if (ev.dataTransfer.files.length) {
        file.files = ev.dataTransfer.files;
      }
    });
    upload.addEventListener("click", async () => {
      const chosen = file.files[0];
      if (!chosen) { status.textContent = "Choose a CSV file first."; status.hidden = false; return; }
      upload.disabled = true;
      upload.textContent = "Uploading…";
      status.hidden = true;
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      try {
        const record = await api("POST", `/imports?dedupe=${encodeURIComponent(dedupe.value)}`, { body: form });
        toast(`Imported ${plural(record.accepted, "lead")} from ${chosen.name}`);
        go(`#/imports/${record.id}`);
      } catch (err) {
        if (err.status === 401) return;
        status.textContent = `Upload refused: ${err.description || err.title}`;
        status.hidden = false;
        upload.disabled = false;
        upload.textContent = "Upload";
      }
    });
    const recent = h("tbody", { id: "imports-body" });
    fill(main(), 
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Import leads"),
        h("div", { class: "sub" }, "Upload a CSV file; good rows land even when others are rejected."))),
      h("div", { class: "panel" }, h("div", { class: "panel-body" }, zone, status)),
      h("div", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Recent imports")),
        h("table", { class: "data" },
          h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Import"), h("th", {}, "File"),
            h("th", { class: "num" }, "Rows"), h("th", { class: "num" }, "Accepted"),
            h("th", { class: "num" }, "Rejected"), h("th", { class: "num" }, "Duplicates"), h("th", {}, "When"))),
          recent)));
    return {
      async refresh(gen) {
        const body = await api("GET", "/imports?limit=20");
        if (gen !== generation) return false;
        clear(recent);
        if (!body.items.length) recent.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No imports yet.")));
        for (const imp of body.items) {
          const tr = h("tr", { class: "clickable" },
            h("td", { class: "num" }, h("a", { href: `#/imports/${imp.id}` }, `#${imp.id}`)),
            h("td", {}, imp.filename || h("span", { class: "faint" }, "(no name)")),
            h("td", { class: "num" }, num(imp.rows)), h("td", { class: "num" }, num(imp.accepted)),
            h("td", { class: "num" }, num(imp.rejected)), h("td", { class: "num" }, num(imp.duplicates)),
            h("td", { class: "small nowrap", title: when(imp.created_at) }, ago(imp.created_at)));
          tr.addEventListener("click", (ev) => { if (!ev.target.closest("a")) go(`#/imports/${imp.id}`); });
          recent.append(tr);
        }
        return false;
      },
    };
  }

  function importView(importId) {
    const root = h("div", { id: "import-view" }, h("div", { class: "loading" }, "Loading import…"));
    fill(main(), root);
    const rejBody = h("tbody", { id: "rejections-body" });
    const more = h("button", { class: "btn btn-small", type: "button", id: "more-rejections" }, "Load more");
    more.hidden = true;
    let after = 0;

    async function loadRejections() {
      more.disabled = true;
      const page = await api("GET", `/imports/${importId}/rejections${query({ after, limit: REJECTIONS_PAGE })}`);
      for (const r of page.items) {
        rejBody.append(h("tr", {},
          h("td", { class: "num" }, r.line),
          h("td", {}, chip("failed", r.reason.replace(/_/g, " "))),
          h("td", {}, r.message),
          h("td", {}, r.lead_id ? h("a", { href: `#/leads/${r.lead_id}` }, `Lead #${r.lead_id}`) : "")));
      }
      after = page.next || after;
      more.hidden = !page.next;
      more.disabled = false;
      return page.items.length;
    }
    more.addEventListener("click", () => loadRejections().catch((err) => toast(err.message, true)));

    function render(imp) {
      const customize = h("button", { class: "btn btn-primary", type: "button", id: "customize-import", disabled: !imp.accepted },
        `Customize ${plural(imp.accepted, "lead")}`);
      customize.addEventListener("click", () =>
        customizeDialog({ import_id: imp.id }, `the ${plural(imp.accepted, "lead")} of import #${imp.id}`));
      const columns = Object.entries(imp.columns || {});
      fill(root, 
        h("div", { class: "page-head" },
          h("div", {}, h("h1", {}, `Import #${imp.id}`),
            h("div", { class: "sub" }, [imp.filename, `${num(imp.bytes)} bytes`, `uploaded ${when(imp.created_at)}`]
              .filter(Boolean).join(" · "))),
          h("div", { class: "actions" },
            h("a", { class: "btn", href: `#/leads?import=${imp.id}`, id: "view-import-leads" }, "View leads"),
            exportButtons({ import: imp.id }), customize)),
        h("div", { class: "stats", id: "import-report" },
          stat("Rows", num(imp.rows), "data rows read"),
          stat("Accepted", num(imp.accepted), "new leads", "good"),
          stat("Rejected", num(imp.rejected), "duplicates included", imp.rejected ? "bad" : ""),
          stat("Duplicates", num(imp.duplicates), `by ${imp.dedupe || "email"}`)),
        h("div", { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Columns")),
          h("div", { class: "panel-body" },
            h("dl", { class: "kv" }, columns.map(([field, column]) => [h("dt", {}, field), h("dd", {}, h("code", {}, column))])),
            imp.ignored_columns && imp.ignored_columns.length
              ? h("p", { class: "small muted" }, "Ignored columns: ", imp.ignored_columns.join(", ")) : null)),
        h("div", { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Rejected rows"),
            h("span", { class: "small muted" }, "Line numbers count the header as line 1")),
          imp.rejected
            ? [h("table", { class: "data", id: "rejections" },
              h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Line"), h("th", {}, "Reason"),
                h("th", {}, "Message"), h("th", {}, "Existing lead"))), rejBody),
            h("div", { class: "pager" }, h("div", { class: "actions" }, more))]
            : h("div", { class: "empty small" }, "Every row was accepted.")));
    }

    return {
      async refresh(gen) {
        const imp = await api("GET", `/imports/${importId}`);
        if (gen !== generation) return false;
        render(imp);
        if (imp.rejected) await loadRejections();
        return false;
      },
    };
  }

  // ------------------------------------------------------------------ start

  function start() {
    // Opening the page as /#key=<API key> stores the key once and removes it from the URL.
    const given = new URLSearchParams(location.hash.replace(/^#/, "")).get("key");
    if (given) {
      localStorage.setItem(KEY_NAME, given.trim());
      history.replaceState(null, "", location.pathname + "#/leads");
    }
    window.addEventListener("hashchange", route);
    route();
  }

  start();
})();
