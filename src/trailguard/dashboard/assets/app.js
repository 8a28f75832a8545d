// trailguard dashboard: polls /api/findings and draws the page.
// Every value comes from CloudTrail events, which an attacker can shape: it enters the page only as
// text (textContent, createTextNode, SVG text nodes), never as markup; links are built only from
// URLs this script checks.
"use strict";

(function () {
  const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"];
  const RANK = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, INFO: 0 };
  const SVG = "http://www.w3.org/2000/svg";
  const CHIP_LABELS = { rule_id: "rule", actor: "actor", account_id: "account", source_ip: "source" };
  const TOP_SIZE = 8;
  const state = {
    findings: [],
    refresh: 5,
    loaded: false,
    seen: new Set(),
    fresh: new Set(),
    selected: "",
    filters: { text: "", severity: "INFO", outcome: "", rule_id: "", actor: "", account_id: "", source_ip: "" },
  };

  function $(id) {
    return document.getElementById(id);
  }

  // An element with text children only; attributes are a fixed, safe few.
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function keyOf(f) {
    return [f.account_id, f.region, f.event_id, f.rule_id, f.resource_arn || f.resource].join("|");
  }

  function outcomeOf(f) {
    return (f.history && f.history.outcome) || "";
  }

  function matches(f, filters) {
    if ((RANK[f.severity] || 0) < RANK[filters.severity]) return false;
    if (filters.outcome && outcomeOf(f) !== filters.outcome) return false;
    for (const field of Object.keys(CHIP_LABELS)) {
      if (filters[field] && f[field] !== filters[field]) return false;
    }
    if (filters.text) {
      const needle = filters.text.toLowerCase();
      const hay = [f.rule_id, f.title, f.summary, f.actor, f.actor_arn, f.resource, f.resource_arn, f.source_ip,
        f.account_id, f.region, f.event_name, f.event_id, outcomeOf(f)].join("\n").toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  function visible() {
    return state.findings.filter((f) => matches(f, state.filters));
  }

  // -- the chart: stacked bars per time bucket ---------------------------------------------------
  const BUCKETS = [3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400];

  function drawChart(findings) {
    const box = $("chart");
    clear(box);
    const times = findings.map((f) => Date.parse(f.event_time)).filter((t) => !Number.isNaN(t));
    if (!times.length) {
      box.appendChild(el("p", "empty", "No findings to chart."));
      return;
    }
    const first = Math.min(...times);
    const last = Math.max(...times);
    const span = Math.max(1, (last - first) / 1000);
    const size = BUCKETS.find((b) => span / b <= 48) || BUCKETS[BUCKETS.length - 1];
    const start = Math.floor(first / 1000 / size) * size;
    const count = Math.floor((last / 1000 - start) / size) + 1;
    const buckets = Array.from({ length: count }, () => ({ CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFO: 0 }));
    for (const f of findings) {
      const t = Date.parse(f.event_time);
      if (Number.isNaN(t)) continue;
      const index = Math.min(count - 1, Math.floor((t / 1000 - start) / size));
      buckets[index][SEVERITIES.includes(f.severity) ? f.severity : "INFO"] += 1;
    }
    const highest = Math.max(1, ...buckets.map((b) => SEVERITIES.reduce((n, s) => n + b[s], 0)));
    const width = 960;
    const height = 170;
    const left = 36;
    const bottom = 28;
    const plotW = width - left - 8;
    const plotH = height - bottom - 8;
    const barW = plotW / count;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" });
    const title = svg("title");
    title.textContent = `${findings.length} findings, ${count} buckets of ${label(size)}`;
    chart.appendChild(title);
    for (const fraction of [0, 0.5, 1]) {
      const y = 8 + plotH - fraction * plotH;
      chart.appendChild(svg("line", { x1: left, x2: width - 8, y1: y, y2: y, class: "grid" }));
      const tick = svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" });
      tick.textContent = String(Math.round(fraction * highest));
      chart.appendChild(tick);
    }
    buckets.forEach((bucket, i) => {
      let y = 8 + plotH;
      for (const severity of SEVERITIES.slice().reverse()) {
        const n = bucket[severity];
        if (!n) continue;
        const h = (n / highest) * plotH;
        y -= h;
        const bar = svg("rect", {
          x: left + i * barW + 1, y, width: Math.max(1, barW - 2), height: h, class: `bar sev-${severity}`,
        });
        const tip = svg("title");
        tip.textContent = `${n} ${severity} · ${when(start + i * size)} (${label(size)})`;
        bar.appendChild(tip);
        chart.appendChild(bar);
      }
    });
    const ticks = Math.min(count, 6);
    for (let k = 0; k < ticks; k++) {
      const i = Math.round((k * (count - 1)) / Math.max(1, ticks - 1));
      const text = svg("text", { x: left + i * barW + barW / 2, y: height - 8, class: "axis", "text-anchor": "middle" });
      text.textContent = when(start + i * size, size < 86400);
      chart.appendChild(text);
    }
    box.appendChild(chart);
    const legend = $("legend");
    clear(legend);
    for (const severity of SEVERITIES) {
      const n = findings.filter((f) => f.severity === severity).length;
      legend.appendChild(el("span", `key sev-${severity}`, `${severity} ${n}`));
    }
  }

  function label(seconds) {
    if (seconds % 86400 === 0) return seconds === 86400 ? "1 day" : `${seconds / 86400} days`;
    return seconds === 3600 ? "1 hour" : `${seconds / 3600} hours`;
  }

  function when(epochSeconds, withTime) {
    const text = new Date(epochSeconds * 1000).toISOString();
    return withTime === false ? text.slice(0, 10) : text.slice(0, 16).replace("T", " ");
  }

  // -- top lists ---------------------------------------------------------------------------------
  function drawTop(id, findings) {
    const list = $(id);
    const field = list.dataset.field;
    const counts = new Map();
    for (const f of findings) {
      const value = f[field] || "";
      if (value) counts.set(value, (counts.get(value) || 0) + 1);
    }
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_SIZE);
    clear(list);
    if (!top.length) list.appendChild(el("li", "empty", "none"));
    const most = top.length ? top[0][1] : 1;
    for (const [value, n] of top) {
      const button = el("button", "top-item", el("span", "top-name", value), el("span", "top-count", String(n)));
      button.type = "button";
      button.title = `show only ${CHIP_LABELS[field]} ${value}`;
      button.addEventListener("click", () => setFilter(field, value));
      const bar = el("span", "top-bar");
      bar.style.width = `${Math.max(2, (100 * n) / most)}%`;
      list.appendChild(el("li", "", button, bar));
    }
  }

  // -- the list and the detail -------------------------------------------------------------------
  function drawList(findings) {
    const body = $("list").querySelector("tbody");
    clear(body);
    const rows = findings.slice().sort((a, b) => (a.event_time < b.event_time ? 1 : a.event_time > b.event_time ? -1 : RANK[b.severity] - RANK[a.severity]));
    for (const f of rows) {
      const key = keyOf(f);
      const row = el("tr", state.fresh.has(key) ? "fresh" : "",
        el("td", "time", (f.event_time || "").replace("T", " ").replace("Z", "")),
        el("td", "", el("span", `badge sev-${f.severity}`, f.severity)),
        el("td", "rule", f.rule_id),
        el("td", "", f.actor),
        el("td", "", f.account_id),
        el("td", "", f.source_ip),
        el("td", "resource", f.resource),
        el("td", `outcome out-${outcomeOf(f)}`, outcomeOf(f)));
      row.dataset.key = key;
      row.tabIndex = 0;
      if (key === state.selected) row.classList.add("selected");
      row.addEventListener("click", () => select(key));
      row.addEventListener("keydown", (event) => { if (event.key === "Enter") select(key); });
      body.appendChild(row);
    }
    $("empty").hidden = rows.length > 0;
    $("count").textContent = rows.length === state.findings.length
      ? `(${rows.length})` : `(${rows.length} of ${state.findings.length})`;
  }

  function safeUrl(url, hostSuffix) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "https:" && parsed.hostname.endsWith(hostSuffix) ? parsed.href : "";
    } catch (_error) {
      return "";
    }
  }

  function link(text, url) {
    const a = el("a", "", text);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function facts(pairs) {
    const dl = el("dl", "facts");
    for (const [name, value] of pairs) {
      if (value === "" || value === null || value === undefined) continue;
      dl.appendChild(el("dt", "", name));
      dl.appendChild(el("dd", "", typeof value === "string" ? value : String(value)));
    }
    return dl;
  }

  function select(key) {
    state.selected = key;
    // The address names the finding: a reload, or a link kept for later, shows it again.
    window.history.replaceState(null, "", `#finding=${encodeURIComponent(key)}`);
    for (const row of $("list").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.key === key);
    drawDetail();
  }

  function drawDetail() {
    const box = $("detail");
    clear(box);
    const f = state.findings.find((item) => keyOf(item) === state.selected);
    if (!f) {
      box.appendChild(el("p", "hint", "Select a finding to see its event, links and what became of it."));
      return;
    }
    const history = f.history || {};
    box.appendChild(el("h3", "", el("span", `badge sev-${f.severity}`, f.severity), " ", f.title));
    box.appendChild(el("p", "summary", f.summary));
    box.appendChild(el("p", "rule", f.rule_id + (f.mitre ? ` · MITRE ATT&CK ${f.mitre}` : "")));
    const links = el("p", "links");
    const trail = safeUrl(f.cloudtrail_url, ".console.aws.amazon.com");
    if (trail) links.appendChild(link("The event in CloudTrail", trail));
    for (const technique of (f.mitre || "").split(/[,\s]+/)) {
      if (/^T\d{4}(\.\d{3})?$/.test(technique)) {
        const path = technique.replace(".", "/");
        links.appendChild(link(`ATT&CK ${technique}`, `https://attack.mitre.org/techniques/${path}/`));
      }
    }
    if (links.childNodes.length) box.appendChild(links);
    box.appendChild(el("h4", "", "What became of it"));
    const channels = Object.entries(history.channels || {}).map(([name, result]) => [`channel ${name}`, result]);
    box.appendChild(facts([
      ["outcome", history.outcome], ...channels, ["attempts", history.attempts],
      ["folded repeats", history.folded || ""], ["first stored", history.first_stored_at],
      ["last stored", history.stored_at], ["remediation", history.remediation || ""],
    ]));
    if (history.remediation_removed) {
      box.appendChild(el("h4", "", "Removed by the remediation"));
      box.appendChild(el("pre", "remediation", history.remediation_removed));
    }
    if ((history.failures || []).length) {
      box.appendChild(el("h4", "", "Failures"));
      const list = el("ul", "failures");
      for (const failure of history.failures) list.appendChild(el("li", "", failure));
      box.appendChild(list);
    }
    box.appendChild(el("h4", "", "The event"));
    box.appendChild(facts([
      ["event", f.event_name], ["source", f.event_source], ["time", f.event_time], ["event id", f.event_id],
      ["account", f.account_id], ["region", f.region], ["actor", f.actor], ["actor ARN", f.actor_arn],
      ["actor type", f.actor_type], ["MFA", f.mfa === null || f.mfa === undefined ? "" : f.mfa ? "yes" : "no"],
      ["source address", f.source_ip], ["user agent", f.user_agent], ["error", f.error_code],
      ["resource", f.resource], ["resource type", f.resource_type], ["resource ARN", f.resource_arn],
      ...Object.entries(f.details || {}),
    ]));
    if (f.remediation) {
      box.appendChild(el("h4", "", "To undo or contain it"));
      box.appendChild(el("pre", "remediation", f.remediation));
    }
    if (f.description) {
      box.appendChild(el("h4", "", "About the rule"));
      box.appendChild(el("p", "description", f.description));
    }
  }

  // -- filters -----------------------------------------------------------------------------------
  function setFilter(field, value) {
    state.filters[field] = value;
    draw();
  }

  function drawChips() {
    const chips = $("chips");
    clear(chips);
    for (const field of Object.keys(CHIP_LABELS)) {
      const value = state.filters[field];
      if (!value) continue;
      const chip = el("button", "chip", `${CHIP_LABELS[field]}: `, el("strong", "", value), " ×");
      chip.type = "button";
      chip.title = `stop filtering by ${CHIP_LABELS[field]}`;
      chip.dataset.field = field;
      chip.addEventListener("click", () => setFilter(field, ""));
      chips.appendChild(chip);
    }
  }

  function drawOutcomes() {
    const select = $("f-outcome");
    const outcomes = [...new Set(state.findings.map(outcomeOf).filter(Boolean))].sort();
    const current = [...select.options].slice(1).map((o) => o.value);
    if (outcomes.join("\n") === current.join("\n")) return;
    while (select.options.length > 1) select.remove(1);
    for (const outcome of outcomes) {
      const option = el("option", "", outcome);
      option.value = outcome;
      select.appendChild(option);
    }
    select.value = state.filters.outcome;
  }

  function draw() {
    const shown = visible();
    drawChart(shown);
    for (const id of ["top-rule", "top-actor", "top-account", "top-ip"]) drawTop(id, shown);
    drawChips();
    drawOutcomes();
    drawList(shown);
    drawDetail();
  }

  // -- polling -----------------------------------------------------------------------------------
  function update(document_) {
    const findings = Array.isArray(document_.findings) ? document_.findings : [];
    state.refresh = Math.max(1, Number(document_.refresh) || 5);
    state.fresh = new Set();
    for (const f of findings) {
      const key = keyOf(f);
      if (state.loaded && !state.seen.has(key)) state.fresh.add(key);
      state.seen.add(key);
    }
    state.findings = findings;
    state.loaded = true;
    const read = document_.read_at ? `read ${document_.read_at.replace("T", " ").replace("Z", " UTC")}` : "not read yet";
    const newest = findings.length ? `; newest event ${findings[findings.length - 1].event_time}` : "";
    const fresh = state.fresh.size ? `; ${state.fresh.size} new` : "";
    $("status").textContent = `${findings.length} findings from ${document_.source}; ${read}${newest}${fresh}; refreshes every ${state.refresh} s`;
    const problem = $("problem");
    problem.hidden = !document_.problem;
    problem.textContent = document_.problem ? `${document_.problem} (showing what was read before)` : "";
    draw();
  }

  async function poll() {
    try {
      const response = await fetch("/api/findings", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      update(await response.json());
    } catch (error) {
      const problem = $("problem");
      problem.hidden = false;
      problem.textContent = `The dashboard server did not answer (${error.message}); trying again.`;
    }
    window.setTimeout(poll, state.refresh * 1000);
  }

  function start() {
    if (window.location.hash.startsWith("#finding=")) {
      try {
        state.selected = decodeURIComponent(window.location.hash.slice("#finding=".length));
      } catch (_error) {
        state.selected = "";
      }
    }
    $("f-text").addEventListener("input", (event) => setFilter("text", event.target.value.trim()));
    $("f-severity").addEventListener("change", (event) => setFilter("severity", event.target.value));
    $("f-outcome").addEventListener("change", (event) => setFilter("outcome", event.target.value));
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("f-clear").addEventListener("click", () => {
      state.filters = { text: "", severity: "INFO", outcome: "", rule_id: "", actor: "", account_id: "", source_ip: "" };
      $("f-text").value = "";
      $("f-severity").value = "INFO";
      $("f-outcome").value = "";
      draw();
    });
    poll();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
