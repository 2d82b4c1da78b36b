// harness console. No framework, no build step, nothing fetched from elsewhere.
//
// Safety rule: every string that comes from a scenario, a request or a report is put
// in the page as text (textContent, text nodes, attribute values), never as HTML.
// The server's Content-Security-Policy forbids inline scripts as a second line.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const main = () => document.getElementById("main");
  let poller = null; // the live journal's timer, stopped when leaving the view
  let scenarioCache = null;

  // --- DOM helpers --------------------------------------------------------------------

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    setProps(el, props);
    append(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) el.setAttribute(key, String(value));
    }
    append(el, children);
    return el;
  }

  function setProps(el, props) {
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "value") el.value = value;
      else if (key === "checked") el.checked = Boolean(value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function show(...nodes) {
    const root = main();
    root.replaceChildren();
    append(root, nodes);
  }

  function errorBox(message) {
    return h("div", { class: "error-box", role: "alert" }, message);
  }

  function copyButton(text) {
    return h("button", {
      type: "button",
      onclick: (event) => {
        const button = event.currentTarget;
        const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1200); };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => {});
      },
    }, "Copy");
  }

  function copyLine(label, text) {
    return h("div", { class: "copyline" }, h("span", { class: "muted" }, label), h("code", { "data-copy": label }, text), copyButton(text));
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms >= 10000) return (ms / 1000).toFixed(1) + " s";
    if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
    return (Math.round(ms * 10) / 10) + " ms";
  }

  function fmtBytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
    if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
    return n + " B";
  }

  function fmtTime(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  // --- the server's JSON --------------------------------------------------------------

  async function api(path) {
    const response = await fetch(path, { headers: { accept: "application/json" }, credentials: "same-origin" });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const message = data && data.error && data.error.message ? data.error.message : `HTTP ${response.status} for ${path}`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // --- routing: #/view/argument?query ------------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?", 2);
    const slash = path.indexOf("/");
    const view = slash < 0 ? path : path.slice(0, slash);
    const arg = slash < 0 ? "" : decodeURIComponent(path.slice(slash + 1));
    return { view: view || "scenarios", arg, params: new URLSearchParams(query || "") };
  }

  function hashFor(view, arg, params) {
    const query = params && [...params].length ? "?" + params.toString() : "";
    return "#/" + view + (arg ? "/" + encodeURIComponent(arg) : "") + query;
  }

  function route() {
    if (poller) { clearTimeout(poller); poller = null; }
    const { view, arg, params } = parseHash();
    for (const link of document.querySelectorAll("nav a")) {
      const target = link.getAttribute("data-nav");
      link.classList.toggle("active", target === view || (view === "scenario" && target === "scenarios") || (view === "request" && target === "journal"));
    }
    const views = { scenarios, scenario, journal, request: requestView, goldens, report };
    (views[view] || scenarios)(arg, params);
  }

  // --- Scenarios ------------------------------------------------------------------------

  async function scenarios(_arg, params) {
    show(h("h1", {}, "Scenarios"), h("p", { class: "muted" }, "Loading…"));
    let rows;
    try {
      rows = scenarioCache || (scenarioCache = (await api("api/scenarios")).scenarios);
    } catch (err) { show(h("h1", {}, "Scenarios"), errorBox(err.message)); return; }
    const providers = [...new Set(rows.map((r) => r.provider))].sort();
    const familyNames = [...new Set(rows.flatMap((r) => r.families))].sort();
    const search = h("input", { type: "search", id: "search", placeholder: "Search name, description, tags, faults", value: params.get("q") || "", "aria-label": "search" });
    const provider = h("select", { id: "provider", "aria-label": "provider" }, h("option", { value: "" }, "every provider"), providers.map((p) => h("option", { value: p }, p)));
    const family = h("select", { id: "family", "aria-label": "family" }, h("option", { value: "" }, "every API family"), familyNames.map((f) => h("option", { value: f }, f)));
    provider.value = params.get("provider") || "";
    family.value = params.get("family") || "";
    const count = h("span", { id: "count", class: "muted" });
    const body = h("tbody");
    const table = h("table", { id: "scenario-table" },
      h("thead", {}, h("tr", {}, ["Name", "Provider", "Description", "Tags", "Faults", "Expect", "Answers"].map((t) => h("th", {}, t)))),
      body);

    function render() {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      const shown = rows.filter((r) => {
        if (provider.value && r.provider !== provider.value) return false;
        if (family.value && !r.families.includes(family.value)) return false;
        const hay = [r.name, r.description, r.provider, ...r.tags, ...r.faults].join(" ").toLowerCase();
        return words.every((w) => hay.includes(w));
      });
      body.replaceChildren(...shown.map((r) => h("tr", {
        class: "clickable scenario-row", "data-name": r.name,
        onclick: () => { location.hash = hashFor("scenario", r.name); },
      },
      h("td", {}, h("a", { href: hashFor("scenario", r.name) }, r.name)),
      h("td", {}, r.provider),
      h("td", { class: "description" }, r.description),
      h("td", {}, r.tags.map((t) => h("span", { class: "tag" }, t))),
      h("td", {}, r.faults.map((f) => h("span", { class: "tag fault" }, f))),
      h("td", {}, r.expect ? "yes" : ""),
      h("td", {}, String(r.answers)))));
      count.textContent = `${shown.length} of ${rows.length} scenarios`;
      const next = new URLSearchParams();
      if (search.value) next.set("q", search.value);
      if (provider.value) next.set("provider", provider.value);
      if (family.value) next.set("family", family.value);
      history.replaceState(null, "", hashFor("scenarios", "", next));
    }
    search.addEventListener("input", render);
    provider.addEventListener("change", render);
    family.addEventListener("change", render);
    show(h("h1", {}, "Scenarios"), h("div", { class: "toolbar" }, search, provider, family, count), table);
    render();
    search.focus();
  }

  // --- A scenario's timeline -----------------------------------------------------------

  async function scenario(name, params) {
    const answer = params.get("answer") || "0";
    const overlay = params.get("faults") || "";
    show(h("h1", {}, name), h("p", { class: "muted" }, "Planning…"));
    const query = new URLSearchParams({ scenario: name, answer, faults: overlay });
    let data;
    let problem = null;
    try {
      data = await api("api/timeline?" + query.toString());
    } catch (err) {
      if (err.status !== 400 || !overlay) { show(h("h1", {}, name), errorBox(err.message)); return; }
      problem = err.message; // a bad overlay: show the page without it, and why
      query.set("faults", "");
      try { data = await api("api/timeline?" + query.toString()); } catch (err2) { show(h("h1", {}, name), errorBox(err2.message)); return; }
    }
    const sc = data.scenario;
    const input = h("input", { type: "text", class: "overlay", id: "overlay", value: overlay, placeholder: "error_after=2; chunking=random; seed=7", "aria-label": "fault overlay", spellcheck: "false" });
    const apply = () => {
      const next = new URLSearchParams();
      if (data.answers > 1) next.set("answer", answer);
      if (input.value.trim()) next.set("faults", input.value.trim());
      location.hash = hashFor("scenario", name, next);
    };
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
    const answerPicker = data.answers > 1 ? h("select", {
      id: "answer", "aria-label": "answer",
      onchange: (e) => { const next = new URLSearchParams(params); next.set("answer", e.target.value); location.hash = hashFor("scenario", name, next); },
    }, Array.from({ length: data.answers }, (_, i) => h("option", { value: String(i) }, `answer ${i + 1} of ${data.answers}`))) : null;
    if (answerPicker) answerPicker.value = String(data.answer);
    const logScale = h("input", { type: "checkbox", id: "logscale", checked: params.get("scale") === "log" });
    const lanes = h("div", { id: "views" });
    const drawAll = () => {
      lanes.replaceChildren(...data.views.map((v) => viewSection(v, logScale.checked)));
    };
    logScale.addEventListener("change", drawAll);
    show(
      h("h1", {}, sc.name),
      h("div", { class: "facts" },
        h("span", {}, "provider ", h("b", {}, sc.provider)),
        h("span", { class: "description" }, sc.description),
        sc.path ? h("span", { class: "muted mono" }, sc.path) : null,
        sc.expect ? h("span", { class: "tag" }, "has expect") : null,
        sc.tags.map((t) => h("span", { class: "tag" }, t))),
      h("div", { class: "toolbar" },
        answerPicker,
        h("label", { for: "overlay" }, "Fault overlay"), input,
        h("button", { type: "button", id: "apply", onclick: apply }, "Redraw"),
        h("label", {}, logScale, " log scale for pauses")),
      problem ? errorBox(problem) : null,
      data.header ? copyLine("header", data.header) : null,
      data.prefix ? copyLine("base URL prefix", data.prefix) : null,
      data.effective ? h("p", { class: "muted", id: "effective" }, "Faults in effect: ", h("span", { class: "mono" }, data.effective)) : h("p", { class: "muted", id: "effective" }, "No faults."),
      legend(),
      lanes,
      h("h2", {}, "Side by side"),
      h("p", { class: "muted" }, "The bytes each route sends, one block per SSE event, comment or event-stream message; green: what a correct client reads from it."),
      h("div", { class: "side", id: "side" }, data.views.map(sideColumn)));
    drawAll();
  }

  function legend() {
    return h("p", { class: "legend muted" },
      h("span", {}, h("i", { class: "event" }), "event"),
      h("span", {}, h("i", { class: "comment" }), "comment / keep-alive"),
      h("span", {}, h("i", { class: "meta" }), "id / retry"),
      h("span", {}, h("i", { class: "partial" }), "part of an event (cut)"),
      h("span", {}, "bar height: bytes in the write (log); gaps: pauses"));
  }

  function writeKind(write, blocks) {
    if (!write.size) return "empty";
    const kinds = write.blocks.map((i) => blocks[i] && blocks[i].kind);
    if (kinds.includes("partial")) return "partial";
    if (kinds.includes("body")) return "body";
    if (kinds.length && kinds.every((k) => k === "comment")) return "comment";
    if (kinds.length && kinds.every((k) => k === "meta")) return "meta";
    return "event";
  }

  function viewSection(v, log) {
    const title = v.view === "raw" ? `raw: the ${v.route} route, byte for byte` : v.view === "sent" ? `as sent on the ${v.route} route` : `${v.view}: the ${v.route} route, normalized`;
    const section = h("section", { class: "view", "data-view": v.view, "data-route": v.route });
    if (v.error) {
      append(section, [h("h3", {}, title), errorBox(v.error)]);
      return section;
    }
    const facts = h("div", { class: "facts" },
      h("span", {}, `HTTP ${v.status}`),
      h("span", { class: "write-count" }, `${v.write_count.toLocaleString("en-US")}${v.counted_all === false ? "+" : ""} write${v.write_count === 1 ? "" : "s"}`),
      h("span", { class: "block-count" }, blockSummary(v)),
      h("span", {}, fmtBytes(v.bytes) + (v.counted_all === false ? "+" : "")),
      h("span", {}, fmtMs(v.duration_ms) + (v.counted_all === false ? "+" : "") + " at recorded speed"),
      v.abort ? h("span", { class: "tag fault" }, "cut (no terminating chunk)") : null,
      v.faults ? h("span", { class: "mono" }, v.faults) : null);
    append(section, [h("h3", {}, title), facts, timelineSvg(v, log)]);
    if (v.notes && v.notes.length) append(section, [h("ul", { class: "notes" }, v.notes.map((n) => h("li", {}, n)))]);
    if (v.truncated_writes || v.truncated_blocks) append(section, [h("p", { class: "muted" }, `Only the first writes and blocks are listed: ${v.truncated_writes} more writes, ${v.truncated_blocks} more blocks.`)]);
    const rows = v.writes.map((w) => h("tr", { class: "write-row", "data-index": w.index },
      h("td", {}, String(w.index + 1)),
      h("td", {}, fmtMs(w.at_ms)),
      h("td", {}, w.delay_ms ? "+" + fmtMs(w.delay_ms) : ""),
      h("td", {}, w.stall_ms ? fmtMs(w.stall_ms) : ""),
      h("td", {}, String(w.size)),
      h("td", {}, w.blocks.map((i) => blockLabel(v.blocks[i], i)).join(", ")),
      h("td", {}, h("pre", {}, w.text))));
    append(section, [h("details", {},
      h("summary", {}, "Writes"),
      h("table", { class: "writes" },
        h("thead", {}, h("tr", {}, ["#", "at", "pause", "stall", "bytes", "blocks", "bytes as sent"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)))]);
    return section;
  }

  function blockSummary(v) {
    const events = v.blocks.filter((b) => b.kind === "event").length;
    const others = v.blocks.length - events;
    let text = `${events} event${events === 1 ? "" : "s"}` + (others ? ` + ${others} other block${others === 1 ? "" : "s"}` : "");
    if (v.write_count > v.blocks.length) text += " (re-chunked: blocks span writes)";
    return text;
  }

  function blockLabel(block, index) {
    if (!block) return "";
    if (block.kind === "event") return `event ${block.event}${block.name && block.name !== "message" ? " " + block.name : ""}`;
    return `${block.kind} ${index + 1}`;
  }

  function timelineSvg(v, log) {
    const width = 1000, height = 150, top = 26, base = 118, left = 8, right = 8;
    const writes = v.writes;
    // Each write gets a slot; a pause before it widens the gap, to scale (or log scale).
    const gap = (ms) => (log ? Math.log10(1 + ms) * 20 : ms);
    const slot = 6;
    const positions = [];
    let x = 0;
    for (const w of writes) {
      x += gap(w.delay_ms + w.stall_ms);
      positions.push(x);
      x += slot;
    }
    const scale = (width - left - right) / Math.max(x, 1);
    const barWidth = Math.max(1, Math.min(24, slot * scale - 1));
    const svg = s("svg", { class: "timeline", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMinYMin meet", role: "img", "aria-label": `${writes.length} writes` });
    svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: base, y2: base }));
    const maxLog = Math.max(1, ...writes.map((w) => Math.log2(1 + w.size)));
    writes.forEach((w, i) => {
      const px = left + positions[i] * scale;
      const pause = w.delay_ms + w.stall_ms;
      if (pause && i > 0) {
        const from = left + (positions[i - 1] + slot) * scale;
        svg.append(s("line", { class: "pause", x1: from, x2: px, y1: base + 8, y2: base + 8 }));
        if (px - from > 40) svg.append(s("text", { x: (from + px) / 2, y: base + 20, "text-anchor": "middle" }, fmtMs(pause)));
      }
      const barHeight = w.size ? 6 + (Math.log2(1 + w.size) / maxLog) * (base - top - 10) : base - top;
      const kind = writeKind(w, v.blocks);
      const rect = s("rect", {
        class: "write " + kind, x: px, y: w.size ? base - barHeight : top, width: barWidth, height: barHeight,
        "data-index": w.index, "data-size": w.size,
      }, s("title", {}, `write ${w.index + 1}: ${w.size} bytes at ${fmtMs(w.at_ms)}${w.stall_ms ? ", after a stall of " + fmtMs(w.stall_ms) : ""}\n${w.text}`));
      svg.append(rect);
      if (w.stall_ms) svg.append(marker("stall", px, `stall ${fmtMs(w.stall_ms)}`, top, base, {}));
    });
    // Faults where they land: at the write that carries the marked block.
    const writeOf = (block) => {
      const found = writes.find((w) => w.blocks.includes(block));
      return found || writes[writes.length - 1];
    };
    let labelRow = 0;
    for (const m of v.markers) {
      const w = writeOf(m.block);
      if (!w) continue;
      const index = writes.indexOf(w);
      const px = left + positions[index] * scale + (m.kind === "cut" ? barWidth + 1 : barWidth / 2);
      const attrs = { "data-kind": m.kind, "data-block": m.block, "data-write": w.index };
      const block = v.blocks[m.block];
      if (block && block.event) attrs["data-event"] = block.event;
      if (m.kind === "keepalive") {
        svg.append(marker("keepalive", px, "", top, base, attrs, m.label));
        continue;
      }
      svg.append(marker(m.kind, px, m.label, top - 12 + (labelRow++ % 2) * 12, base, attrs));
    }
    return svg;
  }

  function marker(kind, x, label, y, base, attrs, title) {
    const g = s("g", Object.assign({ class: "marker " + kind }, attrs));
    g.append(s("line", { x1: x, x2: x, y1: Math.max(4, y + 2), y2: base + 4 }));
    if (label) {
      const nearEnd = x > 760; // keep the label inside the drawing
      g.append(s("text", { x: nearEnd ? x - 3 : x + 3, y: Math.max(10, y + 10), "text-anchor": nearEnd ? "end" : "start" }, label));
    }
    g.append(s("title", {}, title || label));
    return g;
  }

  function sideColumn(v) {
    const col = h("div", { class: "col", "data-view": v.view });
    append(col, [h("h4", {}, `${v.view} · ${v.route}`)]);
    if (v.error) { append(col, [errorBox(v.error)]); return col; }
    const marked = new Map(v.markers.filter((m) => m.kind !== "keepalive").map((m) => [m.block, m.label]));
    v.blocks.forEach((b, i) => {
      const div = h("div", { class: "block " + b.kind + (marked.has(i) ? " marked" : ""), "data-block": i },
        h("div", { class: "muted" }, blockLabel(b, i) + (marked.has(i) ? " · " + marked.get(i) : "")),
        h("pre", {}, b.text),
        (b.reading || []).map((r) => h("div", { class: "reading" }, "→ " + r)));
      col.append(div);
    });
    if (v.end && v.end.length) col.append(h("div", { class: "block end" }, h("div", { class: "muted" }, "at the end"), v.end.map((r) => h("div", { class: "reading" }, "→ " + r))));
    return col;
  }

  // --- The journal, live -----------------------------------------------------------------

  async function journal() {
    const status = h("span", { id: "journal-status", class: "muted" }, "connecting…");
    const body = h("tbody", { id: "journal-body" });
    const clear = h("button", {
      type: "button",
      onclick: async () => { await fetch("../requests?all=1", { method: "DELETE", credentials: "same-origin" }); tick(); },
    }, "Clear journal");
    show(h("h1", {}, "Journal"),
      h("p", { class: "muted" }, "Requests as they arrive, grouped by test id (the x-harness-test-id header or the /t/{id}/ prefix), newest first. Click one to see what was sent."),
      h("div", { class: "toolbar" }, status, clear),
      h("table", { id: "journal" },
        h("thead", {}, h("tr", {}, ["Time", "Request", "Scenario", "Route", "Status", "Faults", "Ended", "Bytes", "Duration"].map((t) => h("th", {}, t)))),
        body));
    let serveClients = true;
    try { serveClients = (await api("api/info")).serve_clients; } catch (_) { /* shown by the poll */ }
    if (!serveClients) status.textContent = "harness ui serves no API routes: run harness serve to watch a client's requests.";

    async function tick() {
      if (parseHash().view !== "journal") return;
      try {
        const data = await api("api/requests");
        renderJournal(body, data.requests);
        if (serveClients) status.textContent = `${data.requests.length} shown of ${data.total} kept · live`;
      } catch (err) {
        status.textContent = "journal unavailable: " + err.message;
      }
      if (parseHash().view === "journal") poller = setTimeout(tick, 250);
    }
    tick();
  }

  function renderJournal(body, requests) {
    const groups = new Map();
    for (const r of requests) {
      if (!groups.has(r.test_id)) groups.set(r.test_id, []);
      groups.get(r.test_id).push(r);
    }
    const ordered = [...groups.entries()].sort((a, b) => b[1][b[1].length - 1].seq - a[1][a[1].length - 1].seq);
    const rows = [];
    for (const [tid, items] of ordered) {
      rows.push(h("tr", { class: "group", "data-test-id": tid }, h("td", { colspan: "9" }, tid ? "test id " : "(no test id)", tid ? h("span", { class: "mono" }, tid) : null, h("span", { class: "muted" }, ` · ${items.length} request${items.length === 1 ? "" : "s"}`))));
      for (const r of [...items].reverse()) {
        rows.push(h("tr", {
          class: "clickable request-row", "data-seq": r.seq, "data-scenario": r.scenario || "",
          onclick: () => { location.hash = hashFor("request", String(r.seq)); },
        },
        h("td", { class: "mono" }, fmtTime(r.time)),
        h("td", { class: "mono" }, `${r.method} ${r.path}`),
        h("td", {}, r.scenario || ""),
        h("td", {}, r.family || ""),
        h("td", {}, r.status === null ? "" : String(r.status)),
        h("td", { class: "mono" }, r.faults || ""),
        h("td", {}, h("span", { class: "dot " + r.outcome }), r.outcome),
        h("td", {}, String(r.bytes_sent)),
        h("td", {}, fmtMs(r.duration_ms))));
      }
    }
    body.replaceChildren(...rows);
  }

  async function requestView(seq) {
    show(h("h1", {}, `Request ${seq}`), h("p", { class: "muted" }, "Loading…"));
    let data;
    try { data = await api("api/requests/" + encodeURIComponent(seq)); } catch (err) { show(h("h1", {}, `Request ${seq}`), errorBox(err.message)); return; }
    const r = data.request;
    const headerRows = Object.entries(r.headers || {}).map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v)));
    const parts = [
      h("h1", {}, `${r.method} ${r.path}`),
      h("div", { class: "facts" },
        h("span", {}, "test id ", h("span", { class: "mono" }, r.test_id || "(none)")),
        h("span", {}, "scenario ", r.scenario ? h("a", { href: hashFor("scenario", r.scenario) }, r.scenario) : "(none)"),
        h("span", {}, "route ", r.family || "(none)"),
        h("span", {}, "HTTP ", r.status === null ? "" : String(r.status)),
        h("span", {}, "ended ", r.outcome),
        h("span", {}, fmtBytes(r.bytes_sent)),
        h("span", {}, fmtMs(r.duration_ms)),
        r.faults ? h("span", { class: "mono" }, "faults " + r.faults) : null),
      r.error ? errorBox(r.error) : null,
    ];
    if (data.timeline) {
      parts.push(legend(), viewSection(data.timeline, false), h("div", { class: "side" }, sideColumn(data.timeline)));
    } else {
      parts.push(h("p", { class: "muted" }, "No answer was planned for this request."));
    }
    parts.push(h("h2", {}, "Request headers"), h("table", { id: "request-headers" }, h("tbody", {}, headerRows)));
    if (r.query && Object.keys(r.query).length) parts.push(h("h2", {}, "Query"), h("pre", {}, JSON.stringify(r.query, null, 2)));
    parts.push(h("h2", {}, "Body"), h("pre", { id: "request-body" }, r.body === null ? "(not a JSON object)" : JSON.stringify(r.body, null, 2)));
    show(parts);
  }

  // --- Goldens ---------------------------------------------------------------------------

  async function goldens() {
    show(h("h1", {}, "Goldens"), h("p", { class: "muted" }, "Rendering every scenario every way and comparing…"));
    let data;
    try { data = await api("api/goldens"); } catch (err) { show(h("h1", {}, "Goldens"), errorBox(err.message)); return; }
    if (!data.goldens) {
      show(h("h1", {}, "Goldens"), h("p", {}, "No goldens folder was given. Start the console with ", h("code", {}, "--goldens DIR"), " (harness serve or harness ui; tests/golden under the current directory is used when it exists)."));
      return;
    }
    const parts = [h("h1", {}, "Goldens"),
      h("p", { id: "golden-summary" }, `${data.checked} goldens checked in `, h("span", { class: "mono" }, data.goldens), `: ${data.mismatches.length} mismatched, ${data.missing.length} missing, ${data.unused.length} unused.`)];
    if (data.mismatches.length || data.missing.length) parts.push(copyLine("rewrite with", data.command));
    for (const m of data.mismatches) {
      const rows = m.rows.map(([tag, ln, left, rn, right]) => tag === "skip"
        ? h("tr", { class: "skip" }, h("td", { colspan: "4" }, "⋯"))
        : h("tr", { class: tag }, h("td", { class: "num" }, ln === null ? "" : String(ln)), h("td", { class: "left" }, left), h("td", { class: "num" }, rn === null ? "" : String(rn)), h("td", { class: "right" }, right)));
      parts.push(h("section", { class: "view mismatch", "data-path": m.path },
        h("h3", {}, `${m.scenario} · ${m.kind}`),
        h("p", { class: "mono muted" }, m.path),
        h("table", { class: "diff" },
          h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "golden"), h("th", {}, ""), h("th", {}, "rendered now"))),
          h("tbody", {}, rows))));
    }
    if (data.missing.length) parts.push(h("h2", {}, "Missing"), h("ul", {}, data.missing.map((p) => h("li", { class: "mono" }, p))));
    if (data.unused.length) parts.push(h("h2", {}, "Unused"), h("ul", {}, data.unused.map((p) => h("li", { class: "mono" }, p))));
    show(parts);
  }

  // --- Conformance reports ---------------------------------------------------------------

  async function report(_arg, params) {
    const picker = h("input", { type: "file", id: "report-file", accept: ".json,application/json" });
    const area = h("div", { id: "report-area" });
    picker.addEventListener("change", () => {
      const file = picker.files && picker.files[0];
      if (!file) return;
      const reader = new FileReader();
      reader.onload = () => {
        try { renderReport(area, JSON.parse(String(reader.result)), params); } catch (err) { area.replaceChildren(errorBox(`${file.name}: not a conformance report: ${err.message}`)); }
      };
      reader.readAsText(file);
    });
    show(h("h1", {}, "Conformance report"),
      h("div", { class: "toolbar" }, h("label", { for: "report-file" }, "Open a results.json (read here, sent nowhere): "), picker),
      area);
    try {
      renderReport(area, await api("api/report"), params);
    } catch (err) {
      area.replaceChildren(h("p", { class: "muted" }, err.status === 404 ? err.message : "report unavailable: " + err.message));
    }
  }

  const VERDICT_LETTER = { pass: "✓", fail: "✗", known: "k", fixed: "!", error: "E", timeout: "T", skipped: "–" };

  function renderReport(area, run, params) {
    if (!run || !Array.isArray(run.results)) throw new Error("it has no results list");
    const results = run.results;
    const counts = {};
    for (const r of results) counts[r.verdict] = (counts[r.verdict] || 0) + 1;
    const detail = h("div", { id: "case" });
    const parts = [
      h("div", { class: "facts" },
        run.started ? h("span", {}, "started " + run.started) : null,
        run.harness ? h("span", {}, "harness " + run.harness) : null,
        run.command ? h("span", { class: "mono" }, run.command) : null,
        h("span", { id: "report-counts" }, Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", "))),
    ];
    const routes = [...new Set(results.map((r) => r.route))];
    for (const routeName of routes) {
      const inRoute = results.map((r, i) => [r, i]).filter(([r]) => r.route === routeName);
      const faults = [...new Set(inRoute.map(([r]) => r.fault))];
      const clients = [...new Set(inRoute.map(([r]) => `${r.client} ${r.version}`.trim()))];
      const names = [...new Set(inRoute.map(([r]) => r.scenario))];
      const cells = new Map();
      for (const [r, i] of inRoute) {
        const key = `${r.scenario}\u0000${r.fault}`;
        if (!cells.has(key)) cells.set(key, []);
        cells.get(key).push([r, i]);
      }
      parts.push(h("h2", {}, `Route ${routeName}`), h("p", { class: "muted" }, "Clients: " + clients.join(", ")));
      parts.push(h("table", { class: "matrix", "data-route": routeName },
        h("thead", {}, h("tr", {}, h("th", {}, "scenario"), faults.map((f) => h("th", {}, f)))),
        h("tbody", {}, names.map((name) => h("tr", {}, h("td", {}, name), faults.map((f) => h("td", {},
          (cells.get(`${name}\u0000${f}`) || []).map(([r, i]) => h("span", {
            class: "verdict " + r.verdict, title: `${r.client} ${r.version}: ${r.verdict}`, "data-case": i, role: "button", tabindex: "0",
            onclick: () => showCase(detail, r),
          }, VERDICT_LETTER[r.verdict] || "?")))))))));
    }
    parts.push(detail);
    area.replaceChildren(...parts);
    const wanted = params && params.get("case");
    if (wanted !== null && wanted !== undefined && results[Number(wanted)]) showCase(detail, results[Number(wanted)]);
  }

  function showCase(detail, r) {
    const json = (value) => value === null || value === undefined ? "(none)" : JSON.stringify(value, null, 2);
    detail.replaceChildren(h("section", { class: "view case-detail" },
      h("h3", {}, `${r.scenario} · ${r.fault} · ${r.client} ${r.version}: ${r.verdict}`),
      r.overlay ? copyLine("faults", r.overlay) : null,
      r.reproduction ? copyLine("reproduce", r.reproduction) : null,
      (r.differences || []).length ? h("ul", {}, r.differences.map((d) => h("li", {}, d))) : null,
      r.known ? h("p", {}, "known: " + r.known) : null,
      h("div", { class: "side" },
        h("div", { class: "col" }, h("h4", {}, "expected"), h("pre", {}, json(r.expected))),
        h("div", { class: "col" }, h("h4", {}, "observed"), h("pre", {}, json(r.observed)))),
      r.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", {}, r.traceback)) : null,
      h("p", {}, h("a", { href: hashFor("scenario", r.scenario, r.overlay ? new URLSearchParams({ faults: r.overlay }) : null) }, "Open the scenario's timeline with this fault"))));
    detail.scrollIntoView({ block: "nearest" });
  }

  // --- start ----------------------------------------------------------------------------

  async function about() {
    try {
      const info = await api("api/info");
      document.getElementById("about").textContent = `v${info.version} · ${info.scenarios} scenarios` + (info.scenarios_dir ? ` from ${info.scenarios_dir}` : " (built-in)");
    } catch (err) {
      document.getElementById("about").textContent = err.message;
    }
  }

  window.addEventListener("hashchange", route);
  about();
  route();
})();
