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
