/**
 * The dashboard's page: one self-contained HTML document (inline style and script, no framework,
 * nothing fetched from elsewhere: it must work on an offline machine and under a strict CSP).
 * It loads `/api/state`, then follows `/api/events` (Server-Sent Events), and polls `/api/state`
 * while the stream is down. It draws:
 *
 * - the figures: requests by state, and the value at risk outstanding now;
 * - one timeline bar per request on a shared time axis (the chain's clock): waiting for an answer,
 *   then the trust gap (answered, not yet proved: amber), then how it ended (settled green, slashed
 *   red, expired grey), growing at a live "now" edge while open, with the settlement deadline marked;
 * - the value at risk outstanding over time, and each node's bond (free and locked) over time.
 *
 * Each bar carries `data-request-id` and `data-state`; each figure `data-figure` (and the value
 * at risk its exact amount in `data-wei`), so tests and scripts can read the page.
 *
 * The script is plain ES2020 in a string: no template literals in it (they would clash with
 * this module's), every value from the chain set with `textContent` or attributes, never as HTML.
 */

const STYLE = String.raw`
:root {
  --ink: #1b222c; --sub: #5d6874; --faint: #8b95a1; --line: #e4e8ed; --bg: #f5f7fa; --card: #fff;
  --wait: #a9bcd3; --gap: #f0a202; --ok: #2e9d5a; --bad: #d8454a; --muted: #a3aab3; --prep: #b9a8e3;
  --lw: 270px; --iw: 240px;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
code, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
header.top { display: flex; align-items: center; gap: 18px; padding: 14px 28px; background: var(--card);
  border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 18px; letter-spacing: .2px; white-space: nowrap; }
.brand .logo { color: var(--gap); margin-right: 6px; }
.brand .sub { font-weight: 500; color: var(--sub); margin-left: 6px; }
.meta { color: var(--sub); font-size: 13px; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pill { display: inline-flex; align-items: center; gap: 7px; padding: 4px 11px; border-radius: 999px;
  font-size: 12.5px; font-weight: 600; background: #eef1f4; color: var(--sub); white-space: nowrap; }
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
.pill[data-status="live"] { background: #e6f5ec; color: #1f7a45; }
.pill[data-status="live"]::before { background: var(--ok); animation: pulse 2s infinite; }
.pill[data-status="syncing"]::before { background: var(--gap); }
.pill[data-status="rpc-down"], .pill[data-status="offline"] { background: #fdecec; color: #b3262b; }
.pill[data-status="rpc-down"]::before, .pill[data-status="offline"]::before { background: var(--bad); }
@keyframes pulse { 0%, 100% { opacity: 1; } 50% { opacity: .35; } }
.banner { margin: 14px 28px 0; padding: 10px 14px; border-radius: 8px; background: #fdecec; color: #8f1d22;
  border: 1px solid #f5c2c4; font-weight: 500; }
main { padding: 18px 28px 28px; display: grid; gap: 18px; }
.figures { display: grid; grid-template-columns: repeat(5, minmax(110px, 1fr)) minmax(230px, 1.6fr); gap: 12px; }
.fig { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px 11px;
  border-top: 3px solid var(--c, var(--line)); }
.fig .n { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.15; }
.fig .l { color: var(--sub); font-size: 12.5px; margin-top: 2px; }
.fig .s { color: var(--faint); font-size: 12px; margin-top: 3px; min-height: 16px; }
.fig[data-figure="requested"] { --c: var(--wait); }
.fig[data-figure="answered"] { --c: var(--gap); }
.fig[data-figure="settled"] { --c: var(--ok); }
.fig[data-figure="slashed"] { --c: var(--bad); }
.fig[data-figure="expired"] { --c: var(--muted); }
.fig[data-figure="value-at-risk"] { --c: var(--gap); background: linear-gradient(180deg, #fff8e8, #fff 70%); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
.card h2 { font-size: 14px; margin: 0 0 2px; font-weight: 650; }
.card .hint { color: var(--faint); font-size: 12px; margin: 0 0 8px; }
.chart svg { display: block; width: 100%; }
.chart text { font-size: 11px; fill: var(--faint); font-variant-numeric: tabular-nums; }
.node + .node { margin-top: 10px; }
.node .who { font-size: 12.5px; color: var(--sub); display: flex; gap: 12px; flex-wrap: wrap; }
.node .who b { color: var(--ink); font-weight: 600; }
.none { color: var(--faint); font-size: 13px; padding: 18px 0; text-align: center; }
.tl-head { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; margin-bottom: 8px; }
.tl-head h2 { margin: 0; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; color: var(--sub); font-size: 12px; flex: 1; }
.legend span::before { content: ""; display: inline-block; width: 14px; height: 8px; border-radius: 2px;
  margin-right: 5px; vertical-align: 0; background: var(--sw); }
.legend .dl::before { width: 0; height: 11px; border-left: 2px dashed var(--bad); border-radius: 0; vertical-align: -1px; }
.zoom { display: inline-flex; border: 1px solid var(--line); border-radius: 7px; overflow: hidden; }
.zoom button { border: 0; background: #fff; padding: 4px 10px; font: inherit; font-size: 12.5px; color: var(--sub); cursor: pointer; }
.zoom button + button { border-left: 1px solid var(--line); }
.zoom button.on { background: var(--ink); color: #fff; }
.grid3 { display: grid; grid-template-columns: var(--lw) 1fr var(--iw); align-items: center; }
.axis { height: 22px; border-bottom: 1px solid var(--line); }
.axis .ticks { position: relative; height: 100%; }
.axis .ticks span { position: absolute; bottom: 4px; transform: translateX(-50%); color: var(--faint); font-size: 11px;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.axis .ticks span.nowtick { color: var(--ink); font-weight: 600; }
.rows-wrap { position: relative; max-height: 62vh; overflow-y: auto; }
.gridlines { position: absolute; inset: 0 var(--iw) 0 var(--lw); pointer-events: none; }
.gridlines i { position: absolute; top: 0; bottom: 0; border-left: 1px solid #eef1f4; }
.row { height: 30px; border-bottom: 1px solid #f1f3f6; position: relative; }
.row:hover { background: #fafbfc; }
.row .id { display: flex; align-items: center; gap: 8px; min-width: 0; padding-right: 10px; }
.row .id code { color: var(--ink); }
.row .id .model { color: var(--faint); font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .id .stake { color: var(--sub); font-size: 11.5px; margin-left: auto; white-space: nowrap; font-variant-numeric: tabular-nums; }
.dot { width: 9px; height: 9px; border-radius: 50%; flex: none; background: var(--c); }
.bar { position: relative; height: 30px; overflow: hidden; }
.seg { position: absolute; top: 9px; height: 12px; }
.seg.wait { background: var(--wait); border-radius: 6px 0 0 6px; }
.seg.gap { background: var(--gap); min-width: 2px; }
.seg.cap { width: 8px; border-radius: 0 6px 6px 0; background: var(--c); }
.bar[data-state="requested"] .seg.wait, .bar[data-state="prepared"] .seg.wait { border-radius: 6px; }
.bar[data-state="prepared"] .seg.wait { background: var(--prep); }
.seg.edge { width: 3px; top: 6px; height: 18px; border-radius: 2px; background: var(--c); animation: pulse 1.6s infinite; }
.mark { position: absolute; top: 4px; bottom: 4px; width: 0; border-left: 2px dashed var(--bad); }
.mark.window { border-left-color: var(--muted); }
.later { position: absolute; right: 0; top: 9px; width: 0; height: 0; border-top: 6px solid transparent;
  border-bottom: 6px solid transparent; border-left: 7px solid var(--bad); opacity: .75; }
.row .info { padding-left: 12px; font-size: 12.5px; color: var(--sub); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.row .info b { font-weight: 600; color: var(--c); }
[data-state="requested"], .c-requested { --c: #7d97b6; }
[data-state="prepared"], .c-prepared { --c: #8c76c9; }
[data-state="answered"], .c-answered { --c: #c98400; }
[data-state="settled"], .c-settled { --c: var(--ok); }
[data-state="slashed"], .c-slashed { --c: var(--bad); }
[data-state="expired"], .c-expired { --c: #8d949c; }
.foot { color: var(--faint); font-size: 12px; margin-top: 8px; }
@media (max-width: 1100px) {
  .figures { grid-template-columns: repeat(3, 1fr); }
  .charts { grid-template-columns: 1fr; }
  :root { --lw: 220px; --iw: 170px; }
}
`;

const BODY = String.raw`
<header class="top">
  <div class="brand"><span class="logo">&#9670;</span>Sibyl<span class="sub">trust gap</span></div>
  <div class="meta" id="meta">connecting&hellip;</div>
  <div class="pill" id="status" data-status="offline">connecting</div>
</header>
<div class="banner" id="banner" hidden></div>
<main>
  <section class="figures">
    <div class="fig" data-figure="requested"><div class="n">&ndash;</div><div class="l">waiting for an answer</div><div class="s"></div></div>
    <div class="fig" data-figure="answered"><div class="n">&ndash;</div><div class="l">in the trust gap</div><div class="s">answered, not yet proved</div></div>
    <div class="fig" data-figure="settled"><div class="n">&ndash;</div><div class="l">settled</div><div class="s">proved on-chain</div></div>
    <div class="fig" data-figure="slashed"><div class="n">&ndash;</div><div class="l">slashed</div><div class="s">no proof by the deadline</div></div>
    <div class="fig" data-figure="expired"><div class="n">&ndash;</div><div class="l">expired</div><div class="s">never answered</div></div>
    <div class="fig" data-figure="value-at-risk" data-wei="0"><div class="n">&ndash;</div>
      <div class="l">value at risk outstanding</div><div class="s">stake locked behind answers not yet proved</div></div>
  </section>
  <section class="charts">
    <div class="card"><h2>Value at risk outstanding</h2>
      <p class="hint">the stakes bonded behind answered, unproved requests: what slashes would pay out now</p>
      <div class="chart" id="var-chart"></div></div>
    <div class="card"><h2>Node bonds</h2>
      <p class="hint legend"><span style="--sw: #7cc4a0">free</span><span style="--sw: var(--gap)">locked behind unsettled answers</span></p>
      <div id="bond-charts"></div></div>
  </section>
  <section class="card">
    <div class="tl-head">
      <h2>Requests</h2>
      <div class="legend">
        <span style="--sw: var(--wait)">waiting for an answer</span>
        <span style="--sw: var(--gap)">trust gap: answered, not yet proved</span>
        <span style="--sw: var(--ok)">settled</span>
        <span style="--sw: var(--bad)">slashed</span>
        <span style="--sw: var(--muted)">expired</span>
        <span class="dl">settlement deadline (&#9656; beyond the axis)</span>
      </div>
      <div class="zoom" id="zoom">
        <button data-span="0" class="on">all</button><button data-span="600">10 min</button><button data-span="60">1 min</button>
      </div>
    </div>
    <div class="axis grid3"><div></div><div class="ticks" id="axis"></div><div></div></div>
    <div class="rows-wrap"><div class="gridlines" id="gridlines"></div><div id="rows"></div>
      <div class="none" id="empty" hidden></div></div>
    <div class="foot" id="foot"></div>
  </section>
</main>
`;

const SCRIPT = String.raw`
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var WEI = 1000000000000000000n;
  var state = null;          // the last snapshot
  var serverUp = false;      // whether the dashboard server answers
  var span = 0;              // seconds shown; 0 fits every listed request
  var rows = new Map();      // request id -> its row's elements
  var pollTimer = null;
  var latest = 0;            // the latest event time in the snapshot: "now" is never before it

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---- formatting
  function eth(wei) {
    var v = BigInt(wei);
    var whole = v / WEI;
    var frac = (v % WEI).toString().padStart(18, "0").slice(0, 6).replace(/0+$/, "");
    return whole.toString() + (frac ? "." + frac : "") + " ETH";
  }
  function ethNumber(wei) { return Number(BigInt(wei)) / 1e18; }
  function shortHex(h) { return h.slice(0, 6) + "\u2026" + h.slice(-4); }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function clock(t) { var d = new Date(t * 1000); return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }
  function iso(t) { return new Date(t * 1000).toISOString().replace(".000Z", "Z"); }
  function dur(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    var h = Math.floor(m / 60);
    return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
  }
  function axisNumber(v) { return v === 0 ? "0" : v >= 100 ? v.toFixed(0) : v >= 1 ? +v.toFixed(2) + "" : +v.toPrecision(2) + ""; }

  // ---- time: the chain's clock, advanced by the wall clock between blocks
  function chainNow() {
    if (!state || !state.head) return Date.now() / 1000;
    return Math.max(state.head.time, latest, Date.now() / 1000 + state.clockOffset);
  }
  function timeRange() {
    var now = chainNow();
    if (span > 0) return { t0: now - span, t1: now + span * 0.03, now: now };
    var first = now - 20;
    state.requests.forEach(function (r) { if (r.requestedAt < first) first = r.requestedAt; });
    var w = Math.max(now - first, 20);
    return { t0: first - w * 0.02, t1: now + w * 0.05, now: now };
  }
  function pct(t, rg) { return (t - rg.t0) / (rg.t1 - rg.t0) * 100; }
  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  function ticks(rg, most) {
    var step = STEPS.find(function (s) { return (rg.t1 - rg.t0) / s <= most; }) || 604800;
    var out = [];
    for (var t = Math.ceil(rg.t0 / step) * step; t <= rg.t1; t += step) out.push(t);
    return out;
  }

  // ---- figures and header
  function renderFigures() {
    var c = state.counts;
    ["requested", "answered", "settled", "slashed", "expired"].forEach(function (k) {
      document.querySelector('[data-figure="' + k + '"] .n').textContent = String(c[k]);
    });
    document.querySelector('[data-figure="requested"] .s').textContent =
      c.prepared ? "+" + c.prepared + " prepared (synchronous calls)" : "";
    var v = document.querySelector('[data-figure="value-at-risk"]');
    v.setAttribute("data-wei", state.valueAtRisk);
    v.querySelector(".n").textContent = eth(state.valueAtRisk);
    v.querySelector(".s").textContent = c.answered
      ? "behind " + c.answered + " unproved answer" + (c.answered === 1 ? "" : "s")
      : "nothing unproved right now";
    document.title = (c.answered ? c.answered + " in the gap \u00b7 " : "") + "Sibyl trust gap";
  }
  function renderMeta() {
    var parts = [];
    if (state.chainId) parts.push("chain " + state.chainId);
    parts.push("precompile " + shortHex(state.precompile));
    if (state.head) parts.push("block #" + state.head.block + " at " + clock(state.head.time));
    if (state.fromBlock !== null) parts.push("following from block #" + state.fromBlock);
    $("meta").textContent = parts.join("  \u00b7  ");
    $("meta").title = "precompile " + state.precompile;
  }
  function renderStatus() {
    var pill = $("status"), banner = $("banner"), status, text, warn = "";
    if (!serverUp) {
      status = "offline"; text = "dashboard offline";
      warn = "The dashboard server does not answer; retrying. The page shows the last state it received.";
    } else if (!state.rpc.ok) {
      status = "rpc-down"; text = "RPC unreachable";
      warn = "RPC unreachable: " + state.rpc.error + ". Showing the last state" +
        (state.syncedBlock !== null ? " (up to block #" + state.syncedBlock + ")" : "") + "; retrying.";
    } else if (state.head && state.syncedBlock !== null && state.syncedBlock < state.head.block) {
      status = "syncing"; text = "syncing \u2026 block #" + state.syncedBlock;
    } else {
      status = "live"; text = "live";
    }
    pill.setAttribute("data-status", status);
    pill.textContent = text;
    banner.hidden = !warn;
    banner.textContent = warn;
    banner.setAttribute("data-banner", status);
  }

  // ---- timeline rows
  function makeRow(r) {
    var row = { el: el("div", "row grid3") };
    var id = el("div", "id", row.el);
    row.dot = el("span", "dot", id);
    row.code = el("code", "", id);
    row.code.textContent = shortHex(r.id);
    row.model = el("span", "model", id);
    row.stake = el("span", "stake", id);
    row.bar = el("div", "bar", row.el);
    row.bar.setAttribute("data-request-id", r.id);
    row.wait = el("div", "seg wait", row.bar);
    row.gap = el("div", "seg gap", row.bar);
    row.cap = el("div", "seg cap", row.bar);
    row.edge = el("div", "seg edge", row.bar);
    row.deadline = el("div", "mark", row.bar);
    row.window = el("div", "mark window", row.bar);
    row.later = el("div", "later", row.bar);
    row.info = el("div", "info", row.el);
    rows.set(r.id, row);
    return row;
  }
  function describe(r) {
    var lines = ["request " + r.id, "state     " + r.state, "model     " + r.model + " (" + r.modelId + ")",
      "mode      " + r.mode, "consumer  " + r.consumer];
    if (r.node) lines.push("node      " + r.node);
    lines.push("stake     " + eth(r.stake) + " (locked behind the answer until it is proved)", "fee       " + eth(r.fee));
    lines.push("requested " + iso(r.requestedAt));
    if (r.answeredAt !== null) lines.push("answered  " + iso(r.answeredAt));
    if (r.deadline !== null) lines.push("deadline  " + iso(r.deadline));
    var end = r.settledAt || r.slashedAt || r.expiredAt;
    if (end) lines.push(r.state.padEnd(9) + " " + iso(end));
    if (r.batch) lines.push("batch     one proof settled " + r.batch.count + " (k = " + r.batch.k + "), tx " + r.batch.tx);
    if (r.slash) lines.push("slash     " + eth(r.slash.compensation) + " + the fee back to the consumer, " + eth(r.slash.reward) + " to the slasher");
    return lines.join("\n");
  }
  function fillRow(row, r) {
    row.r = r;
    row.bar.setAttribute("data-state", r.state);
    row.bar.setAttribute("aria-label", "request " + r.id + ": " + r.state);
    row.dot.className = "dot c-" + r.state;
    row.model.textContent = r.model + (r.mode !== "ZK" ? " \u00b7 " + r.mode : "");
    row.stake.textContent = eth(r.stake).replace(" ETH", "\u00a0ETH");
    row.stake.title = "stake: what the answer locks of the node's bond";
    row.el.title = describe(r);
  }
  function place(e, from, to, rg) {
    var a = Math.max(0, pct(from, rg)), b = Math.min(100, pct(to, rg));
    if (!(b >= a) || b < 0 || a > 100) { e.style.display = "none"; return; }
    e.style.display = "";
    e.style.left = a + "%";
    e.style.width = (b - a) + "%";
  }
  function mark(e, t, rg) {
    var x = t === null ? -1 : pct(t, rg);
    e.style.display = x >= 0 && x <= 100 ? "" : "none";
    if (x >= 0 && x <= 100) e.style.left = x + "%";
  }
  function placeRow(row, rg) {
    var r = row.r, now = rg.now;
    var end = r.settledAt || r.slashedAt || r.expiredAt;
    var answered = r.answeredAt;
    var open = r.state === "requested" || r.state === "prepared" || r.state === "answered";
    place(row.wait, r.requestedAt, answered !== null ? answered : (end || now), rg);
    if (answered !== null && r.state !== "expired") place(row.gap, answered, end || now, rg);
    else row.gap.style.display = "none";
    if (end) { mark(row.cap, end, rg); } else row.cap.style.display = "none";
    if (open) { mark(row.edge, now, rg); row.edge.style.marginLeft = "-2px"; } else row.edge.style.display = "none";
    mark(row.deadline, r.deadline, rg);
    row.deadline.title = r.deadline !== null ? "settlement deadline " + iso(r.deadline) : "";
    // an open answer's deadline beyond the axis: a flag at the right edge points to it
    var later = r.state === "answered" && r.deadline !== null && r.deadline > rg.t1;
    row.later.style.display = later ? "" : "none";
    row.later.title = later ? "settlement deadline " + iso(r.deadline) + ", in " + dur(r.deadline - now) : "";
    var windowEnd = r.state === "requested" && state.answerWindow !== null ? r.requestedAt + state.answerWindow : null;
    mark(row.window, windowEnd, rg);
    row.window.title = windowEnd !== null ? "answer window ends " + iso(windowEnd) + ": then anyone may expire it" : "";
    row.info.textContent = "";
    info(row.info, r, now);
  }
  function info(box, r, now) {
    var b = el("b", "", box);
    var rest = "";
    if (r.state === "requested") { b.textContent = "waiting " + dur(now - r.requestedAt); }
    else if (r.state === "prepared") { b.textContent = "prepared"; rest = "for a synchronous call"; }
    else if (r.state === "answered") {
      b.textContent = "gap " + dur(now - r.answeredAt);
      if (r.deadline !== null) rest = now <= r.deadline ? "deadline in " + dur(r.deadline - now) : "overdue " + dur(now - r.deadline) + ": slashable";
    } else if (r.state === "settled") {
      var gap = r.settledAt - r.answeredAt;
      b.textContent = r.mode === "TEE" || r.deadline === null ? "final at once" : "settled, gap " + dur(gap);
      if (r.batch) rest = "batch of " + r.batch.count;
    } else if (r.state === "slashed") {
      b.textContent = "slashed";
      rest = r.slash ? eth(r.slash.compensation) + " to the consumer" : "";
    } else { b.textContent = "expired"; rest = "never answered"; }
    if (rest) box.appendChild(document.createTextNode(" \u00b7 " + rest));
  }
  function renderRows() {
    var list = $("rows"), keep = new Set();
    state.requests.forEach(function (r) {
      var row = rows.get(r.id) || makeRow(r);
      keep.add(r.id);
      fillRow(row, r);
      list.appendChild(row.el); // newest first: appending in order keeps the order
    });
    rows.forEach(function (row, id) { if (!keep.has(id)) { row.el.remove(); rows.delete(id); } });
    var empty = $("empty");
    empty.hidden = state.requests.length > 0;
    empty.textContent = "No requests since block #" + state.fromBlock +
      ". Send one (npx hardhat sibyl:infer --network \u2026) and its bar appears here.";
    $("foot").textContent = state.omitted
      ? state.omitted + " older request" + (state.omitted === 1 ? " is" : "s are") + " counted above but not drawn."
      : "";
  }
  function renderAxis(rg) {
    var axis = $("axis"), lines = $("gridlines");
    axis.textContent = ""; lines.textContent = "";
    var width = axis.clientWidth || 800;
    var nowX = pct(rg.now, rg), room = 70 / width * 100;
    ticks(rg, Math.max(2, Math.floor(width / 95))).forEach(function (t) {
      var x = pct(t, rg);
      if (x < 2 || x > 98 || Math.abs(x - nowX) < room) return;
      el("span", "", axis).textContent = clock(t);
      axis.lastChild.style.left = x + "%";
      el("i", "", lines).style.left = x + "%";
    });
    var now = el("span", "nowtick", axis);
    now.textContent = "now";
    now.style.left = Math.min(pct(rg.now, rg), 97) + "%";
  }

  // ---- charts: step areas on the timeline's time range
  // the steps of a series within [t0, now]: [time, hi, lo] from each change on
  function steps(points, rg, hi, lo) {
    var out = [], i = 0, last = null;
    for (; i < points.length && points[i].time <= rg.t0; i++) last = points[i];
    if (last) out.push([rg.t0, hi(last), lo(last)]);
    for (; i < points.length && points[i].time <= rg.now; i++) out.push([points[i].time, hi(points[i]), lo(points[i])]);
    return out;
  }
  function chart(host, height, rg, layers, yMaxEth) {
    host.textContent = "";
    var width = host.clientWidth || 500, left = 62, right = 8, top = 8, bottom = 20;
    var s = svg("svg", { viewBox: "0 0 " + width + " " + height, height: String(height), role: "img" }, host);
    var yMax = Math.max(yMaxEth * 1.15, 1e-9);
    var x = function (t) { return left + (t - rg.t0) / (rg.t1 - rg.t0) * (width - left - right); };
    var y = function (v) { return top + (1 - v / yMax) * (height - top - bottom); };
    var xy = function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); };
    [0, yMaxEth / 2, yMaxEth].forEach(function (v) {
      svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#eef1f4" }, s);
      svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, s).textContent = axisNumber(v) + " ETH";
    });
    ticks(rg, Math.max(2, Math.floor((width - left) / 110))).forEach(function (t) {
      svg("text", { x: x(t), y: height - 5, "text-anchor": "middle" }, s).textContent = clock(t);
    });
    layers.forEach(function (layer) {
      var st = steps(layer.points, rg, layer.hi, layer.lo), upper = [], lower = [];
      st.forEach(function (p, k) {
        var x0 = x(p[0]), x1 = x(k + 1 < st.length ? st[k + 1][0] : rg.now);
        upper.push([x0, y(p[1])], [x1, y(p[1])]);
        lower.push([x0, y(p[2])], [x1, y(p[2])]);
      });
      if (!upper.length) return;
      svg("path", { d: "M" + upper.concat(lower.reverse()).map(xy).join("L") + "Z", fill: layer.fill, stroke: "none" }, s);
      svg("path", { d: "M" + upper.map(xy).join("L"), fill: "none", stroke: layer.stroke, "stroke-width": "1.6" }, s);
    });
    svg("line", { x1: x(rg.now), x2: x(rg.now), y1: top, y2: height - bottom, stroke: "#1b222c", "stroke-opacity": ".25", "stroke-dasharray": "3 3" }, s);
  }
  function maxIn(points, get, rg) {
    var m = 0;
    steps(points, rg, get, get).forEach(function (p) { m = Math.max(m, p[1]); });
    return m;
  }
  function renderValueChart(rg) {
    var points = state.valueAtRiskSeries;
    var wei = function (p) { return ethNumber(p.wei); };
    var stakes = state.requests.reduce(function (m, r) { return Math.max(m, ethNumber(r.stake)); }, 0);
    chart($("var-chart"), 170, rg, [{ points: points, hi: wei, lo: function () { return 0; }, fill: "rgba(240,162,2,.22)", stroke: "#e09400" }],
      Math.max(maxIn(points, wei, rg), stakes, 0.000001));
  }
  function renderBondCharts(rg) {
    var host = $("bond-charts");
    host.textContent = "";
    if (!state.nodes.length) {
      el("div", "none", host).textContent = "No bonded node has acted since block #" + state.fromBlock + ".";
      return;
    }
    state.nodes.forEach(function (n) {
      var box = el("div", "node", host);
      var who = el("div", "who", box);
      var name = el("code", "", who);
      name.textContent = shortHex(n.address);
      name.title = n.address;
      var free = BigInt(n.bond) - BigInt(n.locked);
      [["bond", n.bond], ["locked", n.locked], ["free", free.toString()]].forEach(function (kv) {
        var item = el("span", "", who);
        item.appendChild(document.createTextNode(kv[0] + " "));
        el("b", "", item).textContent = eth(kv[1]);
      });
      var chartBox = el("div", "chart", box);
      var bond = function (p) { return ethNumber(p.bond); }, locked = function (p) { return ethNumber(p.locked); };
      chart(chartBox, state.nodes.length > 2 ? 90 : 120, rg, [
        { points: n.history, hi: locked, lo: function () { return 0; }, fill: "rgba(240,162,2,.45)", stroke: "#e09400" },
        { points: n.history, hi: bond, lo: locked, fill: "rgba(46,157,90,.20)", stroke: "#2e9d5a" },
      ], Math.max(maxIn(n.history, bond, rg), 0.000001));
    });
  }

  // ---- drawing
  function redraw() {
    if (!state) return;
    var rg = timeRange();
    renderAxis(rg);
    rows.forEach(function (row) { placeRow(row, rg); });
    renderValueChart(rg);
    renderBondCharts(rg);
  }
  function setSnapshot(s) {
    state = s;
    latest = 0;
    s.requests.forEach(function (r) {
      latest = Math.max(latest, r.requestedAt, r.answeredAt || 0, r.settledAt || r.slashedAt || r.expiredAt || 0);
    });
    renderMeta(); renderFigures(); renderStatus(); renderRows(); redraw();
  }
  function setStatus(s) {
    if (!state) return;
    if (s.version !== state.version) return refetch();
    state.rpc = s.rpc; state.head = s.head; state.syncedBlock = s.syncedBlock; state.clockOffset = s.clockOffset;
    renderMeta(); renderStatus();
  }
  function setServerUp(up) {
    if (serverUp === up) return;
    serverUp = up;
    if (state) renderStatus();
    else { $("status").setAttribute("data-status", up ? "syncing" : "offline"); $("status").textContent = up ? "loading" : "dashboard offline"; }
  }

  // ---- data: Server-Sent Events, polling /api/state while they are down
  function refetch() {
    return fetch("/api/state", { cache: "no-store" })
      .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.json(); })
      .then(function (s) { setServerUp(true); setSnapshot(s); })
      .catch(function () { setServerUp(false); });
  }
  function startPolling() { if (!pollTimer) pollTimer = setInterval(refetch, 2000); }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }
  function connect() {
    if (!window.EventSource) { refetch(); return startPolling(); }
    var events = new EventSource("/api/events");
    events.addEventListener("snapshot", function (e) { setServerUp(true); stopPolling(); setSnapshot(JSON.parse(e.data)); });
    events.addEventListener("status", function (e) { setStatus(JSON.parse(e.data)); });
    events.onopen = function () { setServerUp(true); stopPolling(); };
    events.onerror = function () { startPolling(); }; // the browser reconnects the stream by itself meanwhile
  }

  document.getElementById("zoom").addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) return;
    span = Number(b.getAttribute("data-span"));
    document.querySelectorAll("#zoom button").forEach(function (x) { x.classList.toggle("on", x === b); });
    redraw();
  });
  window.addEventListener("resize", redraw);
  setInterval(function () { if (state) { redraw(); } }, 1000);
  connect();
})();
`;

/** An amber diamond: the page's only icon, inline so the browser asks the server for none. */
const ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1l7 7-7 7-7-7z" fill="#f0a202"/></svg>';

/** The whole page, served as it is. */
export function dashboardPage(): string {
  return (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    "<title>Sibyl trust gap</title>\n" +
    `<link rel="icon" href="data:image/svg+xml,${encodeURIComponent(ICON)}">\n<style>` +
    STYLE +
    "</style>\n</head>\n<body>" +
    BODY +
    "<script>" +
    SCRIPT +
    "</script>\n</body>\n</html>\n"
  );
}
