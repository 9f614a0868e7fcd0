// Start the NHS.UK frontend components, then render any Vega-Lite charts on the page.
import { initAll } from "../vendor/nhsuk/nhsuk-frontend.min.js";

initAll();

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
