// Start the NHS.UK frontend components, then render any Vega-Lite charts on the page.
import { initAll } from "../vendor/nhsuk/nhsuk-frontend.min.js";

try {
  initAll();
} catch (e) {
  // Without the body's "supported" class (an old browser) the components stay as plain HTML; the
  // rest of this file (charts, live updates) must still run.
  console.warn(e);
}

function renderCharts(root) {
  const nodes = root.querySelectorAll("[data-vega-spec]");
  if (!nodes.length || !window.vegaEmbed) return;
  nodes.forEach((node) => {
    if (node.dataset.rendered) return;
    const spec = JSON.parse(document.getElementById(node.dataset.vegaSpec).textContent);
    window.vegaEmbed(node, spec, { actions: { export: true, source: false, compiled: false, editor: false } })
      .then(() => {
        // vega-embed's actions menu is a <summary> holding only an icon: give it a name.
        node.querySelectorAll("summary").forEach((s) => s.setAttribute("aria-label", "Chart actions: save as image"));
        node.dataset.ready = "1";
      });
    node.dataset.rendered = "1";
  });
}

document.addEventListener("DOMContentLoaded", () => renderCharts(document));
document.body.addEventListener("htmx:afterSwap", (e) => renderCharts(e.target));
if (document.readyState !== "loading") renderCharts(document);

// Live pages: an element with data-sse="<url>" refreshes (htmx trigger "scc-change") on each
// server-sent "change" event; its own htmx polling remains the fallback.
// (htmx is a deferred script that runs after this module: wait for DOMContentLoaded.)
function startLive() {
  document.querySelectorAll("[data-sse]").forEach((el) => {
    if (!window.EventSource || !window.htmx || el.dataset.sseStarted) return;
    el.dataset.sseStarted = "1";
    const source = new EventSource(el.dataset.sse);
    source.addEventListener("change", () => window.htmx.trigger(el, "scc-change"));
    source.addEventListener("hello", () => { el.dataset.live = "1"; });
  });
}
if (window.htmx) startLive();
else document.addEventListener("DOMContentLoaded", startLive);

// A live board refreshed in place (#board, hx-swap innerHTML): keep keyboard focus on the element
// (by id) that had it, and announce only a short status line ("Updated 21:03: RWB now OPEL 3") in
// #board-status, not the whole table.
function boardLevels(board) {
  const out = {};
  board.querySelectorAll("[data-provider]").forEach((row) => { out[row.dataset.provider] = row.dataset.level; });
  return out;
}
let boardBefore = null;
document.body.addEventListener("htmx:beforeSwap", (e) => {
  const board = e.detail.target;
  if (!board || board.id !== "board") return;
  const active = document.activeElement;
  boardBefore = {
    focus: active && board.contains(active) && active.id ? active.id : null,
    hadFocus: !!(active && board.contains(active)),
    levels: boardLevels(board),
  };
});
document.body.addEventListener("htmx:afterSwap", (e) => {
  const board = e.detail.target;
  if (!board || board.id !== "board" || !boardBefore) return;
  const before = boardBefore;
  boardBefore = null;
  if (before.hadFocus) {
    const again = before.focus && document.getElementById(before.focus);
    (again || board).focus({ preventScroll: true });
  }
  const status = document.getElementById("board-status");
  if (!status) return;
  const now = boardLevels(board);
  const changed = Object.keys(now).filter((code) => code in before.levels && now[code] !== before.levels[code])
    .map((code) => (now[code] === "stale" ? `${code} now stale` : now[code] ? `${code} now OPEL ${now[code]}` : `${code} now not scored`));
  const stamp = board.querySelector("[data-board-updated]");
  const text = `Updated ${stamp ? stamp.dataset.boardUpdated : ""}`;
  // Say something only when it is news: a level changed, or a new minute (no repeat of the same line).
  if (changed.length) status.textContent = `${text}: ${changed.join(", ")}`;
  else if (!status.textContent.startsWith(text)) status.textContent = text;
});
