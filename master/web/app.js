// The pool's web page: routes by path, draws every page from the JSON API
// (docs/API.md), refreshes every 30 s, and says so when the API fails.
// Values shown come straight from the API; each number carries its raw
// value in data-v, so tests can compare it with what the API answered.
"use strict";

const REFRESH_MS = 30000;
const ATOMIC = 100000000;
const UNITS = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
const HASH_RANGES = [[1, "1 h"], [6, "6 h"], [24, "24 h"], [168, "7 d"]];
const MINER_RANGES = [[1, "1 h"], [6, "6 h"], [24, "24 h"]];
const state = { hours: 24, minerHours: 24, page: 1, connect: null, timer: 0, generation: 0 };

// ---- formatting ----

function hashrate(value) {
  let v = Number(value) || 0;
  let unit = 0;
  while (Math.abs(v) >= 1000 && unit < UNITS.length - 1) {
    v /= 1000;
    unit += 1;
  }
  return v.toFixed(2) + " " + UNITS[unit];
}

function tos(atomic) {
  const n = Number(atomic) || 0;
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  const whole = Math.floor(abs / ATOMIC);
  const frac = String(abs % ATOMIC).padStart(8, "0").replace(/0+$/, "");
  return sign + whole.toLocaleString("en-US") + (frac ? "." + frac : "") + " TOS";
}

function count(value) {
  return (Number(value) || 0).toLocaleString("en-US");
}

// A decimal string of any size (difficulties) with thousands separators.
function digits(text) {
  return /^\d+$/.test(text) ? text.replace(/\B(?=(\d{3})+(?!\d))/g, ",") : text;
}

function percent(ratio) {
  return ratio == null ? "—" : (ratio * 100).toFixed(1) + "%";
}

function ago(ms) {
  if (ms == null) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function duration(ms) {
  if (ms < 1000) return ms + " ms";
  const s = Math.round(ms / 1000);
  if (s % 86400 === 0) return s / 86400 + " d";
  if (s % 3600 === 0) return s / 3600 + " h";
  if (s % 60 === 0) return s / 60 + " min";
  return s + " s";
}

function plural(n, word) {
  return count(n) + " " + word + (n === 1 ? "" : "s");
}

function clock(ms) {
  return new Date(ms).toLocaleString();
}

function short(text) {
  return text.length > 20 ? text.slice(0, 10) + "…" + text.slice(-8) : text;
}

// ---- DOM ----

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A number shown as text, its raw value in data-v and its name in data-k.
function num(key, raw, text) {
  return h("span", { class: "num", "data-k": key, "data-v": raw == null ? "" : raw }, text);
}

function card(label, value, note) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value),
    note ? h("div", { class: "note" }, note) : null);
}

function section(title, ...children) {
  return h("section", null, h("h2", null, title), ...children);
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "scroll" }, h("table", null,
    h("thead", null, h("tr", null, headers.map((name) => h("th", null, name)))),
    h("tbody", null, rows)));
}

function link(href, text, attrs) {
  return h("a", Object.assign({ href }, attrs || {}), text);
}

function minerLink(address) {
  return link("/miners/" + encodeURIComponent(address), short(address), { title: address, "data-k": "address", "data-v": address });
}

function txLink(hash) {
  if (!hash) return "—";
  const template = state.connect && state.connect.explorer_tx_url;
  const text = short(hash);
  if (!template) return h("span", { title: hash, class: "mono" }, text);
  return link(template.replace("{tx}", encodeURIComponent(hash)), text, { title: hash, class: "mono", rel: "noopener noreferrer", target: "_blank" });
}

function badge(text, kind) {
  return h("span", { class: "badge " + (kind || text) }, text);
}

// ---- API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, "the pool API cannot be reached (" + error.message + ")");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    throw new ApiError(response.status, path + " answered " + response.status + " without JSON");
  }
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || path + " answered " + response.status);
  return body;
}

async function connectInfo() {
  if (!state.connect) state.connect = await api("/api/connect");
  return state.connect;
}

// ---- charts (SVG, drawn here) ----

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

// points: [[time_ms, value…]]; column: which value; format: label of a value.
function chart(key, data, column, format, label) {
  const points = data.points.filter((p) => Number.isFinite(p[column]));
  const box = h("div", { class: "chart", "data-k": key, "data-v": points.length });
  if (points.length < 2) {
    box.append(h("p", { class: "muted" }, points.length ? "One sample so far: " + format(points[0][column]) + "." :
      "No samples yet: the history fills one sample every " + duration(data.interval_ms) + "."));
    return box;
  }
  const W = 600, H = 180, L = 4, R = 4, T = 18, B = 18;
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const max = Math.max(...points.map((p) => p[column])) || 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const gap = Math.max(data.interval_ms * 3, (t1 - t0) / 60);
  let line = "", area = "", start = null, prev = null;
  const close = () => { if (start != null) area += "L" + x(prev[0]).toFixed(1) + "," + y(0) + "L" + x(start).toFixed(1) + "," + y(0) + "Z"; };
  for (const p of points) {
    const move = prev == null || p[0] - prev[0] > gap;
    if (move) { close(); start = p[0]; }
    const seg = (move ? "M" : "L") + x(p[0]).toFixed(1) + "," + y(p[column]).toFixed(1);
    line += seg;
    area += seg;
    prev = p;
  }
  close();
  const svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label, preserveAspectRatio: "none" });
  for (const f of [0.5, 1]) svg.append(s("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: "grid" }));
  svg.append(s("path", { d: area, class: "area" }), s("path", { d: line, class: "line" }));
  const marker = s("circle", { r: 4, class: "dot", cx: -10, cy: -10 });
  svg.append(marker);
  const top = h("div", { class: "axis" }, h("span", null, "max " + format(max)), h("span", { class: "readout" }, ""));
  const bottom = h("div", { class: "axis" }, h("span", null, clock(t0)), h("span", null, clock(t1)));
  const readout = top.lastChild;
  svg.addEventListener("pointermove", (event) => {
    const rect = svg.getBoundingClientRect();
    const t = t0 + ((event.clientX - rect.left) / rect.width) * (t1 - t0);
    let best = points[0];
    for (const p of points) if (Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    marker.setAttribute("cx", x(best[0]));
    marker.setAttribute("cy", y(best[column]));
    readout.textContent = new Date(best[0]).toLocaleTimeString() + ": " + format(best[column]);
  });
  box.append(top, svg, bottom);
  return box;
}

function ranges(options, current, choose) {
  return h("div", { class: "ranges", role: "group" }, options.map(([hours, text]) =>
    h("button", { type: "button", class: hours === current ? "on" : null, "aria-pressed": hours === current ? "true" : "false",
      onclick: () => choose(hours) }, text)));
}

// ---- pages ----

function addressForm() {
  const input = h("input", { type: "text", name: "address", placeholder: "Your address (tos1… or tst1…)", autocomplete: "off",
    spellcheck: "false", "aria-label": "Miner address" });
  return h("form", { class: "lookup", onsubmit: (event) => {
    event.preventDefault();
    const address = input.value.trim();
    if (address) go("/miners/" + encodeURIComponent(address));
  } }, input, h("button", { type: "submit" }, "Open"));
}

function blockRows(blocks, matureDepth) {
  return blocks.map((b) => h("tr", { "data-k": "block", "data-v": b.hash },
    h("td", null, num("block.height", b.height, count(b.height))),
    h("td", null, badge(b.state)),
    h("td", null, b.confirmations == null ? "—" : num("block.confirmations", b.confirmations,
      b.state === "candidate" || b.state === "immature" ? b.confirmations + " / " + matureDepth : count(b.confirmations))),
    h("td", null, num("block.reward", b.reward, tos(b.reward))),
    h("td", null, num("block.effort", b.effort == null ? "" : b.effort, percent(b.effort))),
    h("td", null, minerLink(b.finder)),
    h("td", { title: clock(b.found_at_ms) }, ago(b.found_at_ms)),
    h("td", { class: "mono", title: b.hash }, short(b.hash))));
}

const BLOCK_HEADERS = ["Height", "State", "Confirmations", "Reward", "Effort", "Finder", "Found", "Hash"];

async function home() {
  const hours = state.hours;
  const [stats, luck, rate, workers, blocks] = await Promise.all([
    api("/api/stats"), api("/api/luck"), api("/api/chart/hashrate?hours=" + hours),
    api("/api/chart/workers?hours=" + hours), api("/api/blocks?limit=5")]);
  const p = stats.pool, n = stats.network;
  const last = p.last_block;
  const day = luck.windows.find((w) => w.window === "24h");
  return [
    h("h1", null, "TOS mining pool"),
    addressForm(),
    h("div", { class: "cards" },
      card("Pool hashrate", num("pool.hashrate", p.hashrate, hashrate(p.hashrate)), "24 h avg " + hashrate(p.hashrate_large)),
      card("Network hashrate", n.hashrate == null ? "—" : num("network.hashrate", n.hashrate, hashrate(n.hashrate)), n.error ? "daemon: " + n.error : null),
      card("Miners", num("pool.miners", p.miners, count(p.miners)), count(p.miners_total) + " known"),
      card("Workers", num("pool.workers", p.workers, count(p.workers)), count(p.sessions) + " connections"),
      card("Network height", n.height == null ? "—" : num("network.height", n.height, count(n.height))),
      card("Network difficulty", n.difficulty == null ? "—" : num("network.difficulty", n.difficulty, digits(n.difficulty))),
      card("Last block", last ? num("pool.last_block", last.found_at_ms, ago(last.found_at_ms)) : "none yet",
        last ? "height " + count(last.height) + ", " + last.state : null),
      card("Blocks found", num("pool.blocks_found", p.blocks_found, count(p.blocks_found))),
      card("Luck (24 h effort)", num("luck.24h", day && day.effort != null ? day.effort : "", percent(day && day.effort)),
        day ? plural(day.blocks, "block") + "; round now " + percent(n.difficulty ? p.round_shares / Number(n.difficulty) : null) : null),
      card("Total paid", num("pool.total_paid", p.total_paid, tos(p.total_paid))),
      card("Fee", num("pool.fee_percent", p.fee_percent, p.fee_percent + "%")),
      card("Payout threshold", p.payouts_enabled ? num("pool.payout_threshold", p.payout_threshold, tos(p.payout_threshold)) : "payouts off",
        p.payouts_enabled ? h("span", null, "every ", num("pool.payout_interval_ms", p.payout_interval_ms, duration(p.payout_interval_ms))) : null)),
    section("Hashrate", ranges(HASH_RANGES, hours, (value) => { state.hours = value; render(); }),
      chart("chart.pool", rate, 1, hashrate, "Pool hashrate"),
      h("h3", null, "Network"), chart("chart.network", rate, 2, hashrate, "Network hashrate")),
    section("Miners and workers",
      chart("chart.workers", workers, 1, (v) => count(Math.round(v)) + " workers", "Workers"),
      chart("chart.miners", workers, 2, (v) => count(Math.round(v)) + " miners", "Miners")),
    section("Luck", table(["Window", "Blocks", "Effort"], luck.windows.map((w) =>
      h("tr", { "data-k": "luck", "data-v": w.window }, h("td", null, w.window),
        h("td", null, num("luck.blocks", w.blocks, count(w.blocks))),
        h("td", null, num("luck.effort", w.effort == null ? "" : w.effort, percent(w.effort))))), ""),
      h("p", { class: "muted" }, "Effort is the work a block took over the network difficulty: under 100% is lucky.")),
    section("Last blocks", table(BLOCK_HEADERS, blockRows(blocks.items, p.mature_depth), "No block found yet."),
      link("/blocks", "All blocks →")),
  ];
}

async function miner(address) {
  const [connect] = await Promise.all([connectInfo()]);
  let data;
  try {
    data = await api("/api/miners/" + encodeURIComponent(address));
  } catch (error) {
    if (error.status === 404 || error.status === 400) {
      const text = error.status === 404
        ? "This pool knows no share, balance or payment of " + address + " yet. Check the address, or mine a share first."
        : "This is not a " + connect.network + " address (they start with " + connect.address_prefix + "): " + error.message;
      return [h("h1", null, "Miner"), addressForm(), h("p", { class: "error", "data-k": "miner.unknown", "data-v": error.status }, text)];
    }
    throw error;
  }
  const hours = state.minerHours;
  const [chartData, payments] = await Promise.all([
    api("/api/miners/" + encodeURIComponent(data.address) + "/chart?hours=" + hours),
    api("/api/miners/" + encodeURIComponent(data.address) + "/payments?limit=25")]);
  const b = data.balances;
  const workers = data.workers.map((w) => {
    const offline = !w.hashrate;
    return h("tr", { "data-k": "worker", "data-v": w.name, class: offline ? "offline" : null },
      h("td", null, w.name, " ", offline ? badge("offline") : badge("online")),
      h("td", null, num("worker.hashrate", w.hashrate, hashrate(w.hashrate))),
      h("td", null, num("worker.hashrate_large", w.hashrate_large, hashrate(w.hashrate_large))),
      h("td", null, num("worker.valid", w.shares.valid, count(w.shares.valid))),
      h("td", null, num("worker.invalid", w.shares.invalid, count(w.shares.invalid))),
      h("td", null, num("worker.stale", w.shares.stale, count(w.shares.stale))),
      h("td", { title: w.last_seen_ms ? clock(w.last_seen_ms) : "" }, ago(w.last_seen_ms)));
  });
  const paid = payments.items.map((pay) => h("tr", { "data-k": "payment", "data-v": pay.payment_id },
    h("td", { title: clock(pay.timestamp_ms) }, ago(pay.timestamp_ms)),
    h("td", null, num("payment.amount", pay.amount, tos(pay.amount))),
    h("td", null, num("payment.fee", pay.fee, tos(pay.fee))),
    h("td", null, txLink(pay.tx_hash)),
    h("td", null, badge(pay.status))));
  return [
    h("h1", null, "Miner"),
    h("p", { class: "mono address", "data-k": "miner.address", "data-v": data.address }, data.address),
    h("div", { class: "cards" },
      card("Hashrate", num("miner.hashrate", data.hashrate, hashrate(data.hashrate)), "24 h avg " + hashrate(data.hashrate_large)),
      card("Immature", num("balances.immature", b.immature, tos(b.immature)), "credited by blocks not yet mature"),
      card("Confirmed", num("balances.confirmed", b.confirmed, tos(b.confirmed)), "payable"),
      card("Pending", num("balances.pending", b.pending, tos(b.pending)), "in a payment being confirmed"),
      card("Paid", num("balances.paid", b.paid, tos(b.paid))),
      card("Blocks found", num("miner.blocks_found", data.blocks_found, count(data.blocks_found))),
      card("Last share", num("miner.last_share_ms", data.last_share_ms == null ? "" : data.last_share_ms, ago(data.last_share_ms))),
      card("Workers online", num("miner.workers_online", data.workers_online, count(data.workers_online)), count(data.workers_total) + " known"),
      card("Valid shares", num("miner.valid", data.shares.valid, count(data.shares.valid)),
        count(data.shares.invalid) + " invalid, " + count(data.shares.stale) + " stale")),
    section("Hashrate", ranges(MINER_RANGES, hours, (value) => { state.minerHours = value; render(); }),
      chart("chart.miner", chartData, 1, hashrate, "Miner hashrate")),
    section("Workers", table(["Worker", "Hashrate", "24 h avg", "Valid", "Invalid", "Stale", "Last share"], workers, "No worker has sent a share yet."),
      data.workers_total > data.workers.length ? h("p", { class: "muted" }, "Showing " + data.workers.length + " of " + data.workers_total + " workers.") : null),
    section("Payments", table(["When", "Amount", "Fee", "Transaction", "Status"], paid, "No payment yet."),
      payments.total > payments.items.length ? h("p", { class: "muted" }, "Showing the latest " + payments.items.length + " of " + payments.total + ".") : null),
  ];
}

function pager(list, onPage) {
  const pages = Math.max(1, Math.ceil(list.total / list.limit));
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: list.page <= 1, onclick: () => onPage(list.page - 1) }, "← Newer"),
    h("span", null, "Page " + list.page + " of " + pages),
    h("button", { type: "button", disabled: list.page >= pages, onclick: () => onPage(list.page + 1) }, "Older →"));
}

async function blocksPage() {
  const [stats, blocks] = await Promise.all([api("/api/stats"), api("/api/blocks?limit=50&page=" + state.page)]);
  const c = stats.pool.blocks;
  return [
    h("h1", null, "Blocks"),
    h("div", { class: "cards" },
      ["candidate", "immature", "matured", "orphaned"].map((name) => card(name[0].toUpperCase() + name.slice(1), num("blocks." + name, c[name], count(c[name]))))),
    h("p", { class: "muted" }, "Rewards are credited as immature after a few confirmations and become payable at " +
      stats.pool.mature_depth + " confirmations. Effort is the pool's work for a block over the network difficulty: under 100% is lucky."),
    table(BLOCK_HEADERS, blockRows(blocks.items, stats.pool.mature_depth), "No block found yet."),
    pager(blocks, (page) => { state.page = page; render(); }),
  ];
}

async function paymentsPage() {
  const [, payments] = await Promise.all([connectInfo(), api("/api/payments?limit=50&page=" + state.page)]);
  const rows = [];
  for (const pay of payments.items) {
    for (const t of pay.transfers) {
      rows.push(h("tr", { "data-k": "transfer", "data-v": pay.id + "/" + t.address },
        h("td", { title: clock(pay.created_ms) }, ago(pay.created_ms)),
        h("td", null, minerLink(t.address)),
        h("td", null, num("transfer.amount", t.amount, tos(t.amount))),
        h("td", null, num("transfer.fee", t.fee, tos(t.fee))),
        h("td", null, txLink(pay.tx_hash)),
        h("td", null, badge(pay.status))));
    }
  }
  return [
    h("h1", null, "Payments"),
    table(["When", "Address", "Amount", "Fee", "Transaction", "Status"], rows, "No payment yet."),
    pager(payments, (page) => { state.page = page; render(); }),
  ];
}

function copyButton(text) {
  return h("button", { type: "button", class: "copy", onclick: async (event) => {
    const button = event.currentTarget;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select and copy";
    }
  } }, "Copy");
}

async function connectPage() {
  const [info, stats] = await Promise.all([connectInfo(), api("/api/stats")]);
  const p = stats.pool;
  const input = h("input", { type: "text", placeholder: info.address_prefix + "… your address", spellcheck: "false", "aria-label": "Your address" });
  const worker = h("input", { type: "text", value: "rig1", maxlength: 32, "aria-label": "Worker name" });
  const commands = h("div", { class: "commands" });
  const fill = () => {
    const login = (input.value.trim() || "ADDRESS") + "." + (worker.value.trim() || "WORKER");
    commands.replaceChildren(...info.endpoints.filter((e) => e.protocol === "stratum" || e.protocol === "stratum-tls").map((e) => {
      const line = "tosminer -C -P " + e.url + " -u " + login;
      return h("div", { class: "command" }, h("div", { class: "label" }, e.region + (e.protocol === "stratum-tls" ? " (TLS)" : "")),
        h("code", { "data-k": "command", "data-v": e.url }, line), copyButton(line));
    }));
  };
  input.addEventListener("input", fill);
  worker.addEventListener("input", fill);
  fill();
  return [
    h("h1", null, "Connect"),
    h("p", null, "Mine to your own " + info.network + " address (it starts with " + info.address_prefix + "). The pool keeps a fee of " +
      p.fee_percent + "% and pays " + (p.payouts_enabled ? "every " + duration(p.payout_interval_ms) + " once a confirmed balance reaches " + tos(p.payout_threshold) : "by hand") + "."),
    section("Endpoints", table(["Region", "Protocol", "URL", ""], info.endpoints.map((e) => h("tr", { "data-k": "endpoint", "data-v": e.url },
      h("td", null, e.region), h("td", null, e.protocol), h("td", null, h("code", null, e.url)), h("td", null, copyButton(e.url)))),
      "The operator has not listed public endpoints (web.endpoints).")),
    section("Command line", h("div", { class: "fields" }, h("label", null, "Address ", input), h("label", null, "Worker ", worker)), commands,
      h("p", { class: "muted" }, "TLS endpoints (stratum+ssl://) encrypt the connection; use them when your network allows.")),
    section("Worker names", h("p", null, "Log in as ADDRESS.WORKER. The worker name tells your rigs apart on your miner page: use up to 32 letters, digits, _ and -, one name per rig (rig1, garage-gpu2). Without one the rig is counted as \"default\"; rigs sharing a name are shown as one.")),
  ];
}

// ---- routing and refresh ----

function route() {
  const path = location.pathname;
  const minerMatch = path.match(/^\/miners\/([^/]+)\/?$/);
  if (minerMatch) return { name: "miner", view: () => miner(decodeURIComponent(minerMatch[1])) };
  if (path === "/blocks") return { name: "blocks", view: blocksPage };
  if (path === "/payments") return { name: "payments", view: paymentsPage };
  if (path === "/connect") return { name: "connect", view: connectPage };
  return { name: "home", view: home };
}

function showStatus(text) {
  const status = document.getElementById("status");
  status.textContent = text || "";
  status.hidden = !text;
}

async function render() {
  const generation = ++state.generation;
  const current = route();
  const main = document.getElementById("main");
  main.setAttribute("aria-busy", "true");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("here", a.getAttribute("href") === "/" + (current.name === "home" ? "" : current.name));
  try {
    const content = await current.view();
    if (generation !== state.generation) return;
    main.replaceChildren(...content.filter(Boolean));
    main.dataset.page = current.name;
    main.dataset.loaded = String(Date.now());
    showStatus("");
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
  } catch (error) {
    if (generation !== state.generation) return;
    const loaded = main.dataset.page === current.name;
    showStatus("The pool API failed: " + error.message + (loaded ? ". The numbers below are from the last successful refresh." : "."));
    if (!loaded) {
      main.replaceChildren(h("p", { class: "error", "data-k": "error", "data-v": error.status }, "Nothing to show: " + error.message));
      main.dataset.page = "error";
    }
  } finally {
    if (generation === state.generation) main.removeAttribute("aria-busy");
  }
  clearTimeout(state.timer);
  state.timer = setTimeout(render, REFRESH_MS);
}

function go(path) {
  if (path !== location.pathname) {
    history.pushState(null, "", path);
    state.page = 1;
  }
  document.getElementById("main").removeAttribute("data-page");
  render();
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a");
  if (!a || a.target || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  go(url.pathname);
});
window.addEventListener("popstate", () => { state.page = 1; document.getElementById("main").removeAttribute("data-page"); render(); });
render();
