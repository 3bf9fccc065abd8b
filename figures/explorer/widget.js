// The notebook host (anywidget; figures/explorer/widget.py): payloads and plotly.js come through the
// widget's comm as binary buffers (PROTOCOL.md, "The widget's comm"), so nothing is fetched from a
// URL: no CDN, no server route, the same in JupyterLab, Notebook 7, VS Code and a static export.
// Every view of every widget is its own instance (its own key); views of one run share the
// decoded layers by the run's id, as the app's reruns do.

let widgetViews = 0;

// plotly.js once per page, whichever widget asks first: other widgets (of other modules, too) wait
// for the same promise on window.
function plotlyFromKernel(model) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.headlightPlotly) {
    window.headlightPlotly = new Promise((resolve, reject) => {
      const onMessage = (content, buffers) => {
        if (!content || content.type !== "plotly") return;
        model.off("msg:custom", onMessage);
        const data = buffers[0];
        const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data;
        const url = URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
        const script = document.createElement("script");
        script.src = url;
        script.onload = () => { URL.revokeObjectURL(url); resolve(window.Plotly); };
        script.onerror = () => {
          window.headlightPlotly = null;
          reject(new Error("plotly.js did not load"));
        };
        document.head.appendChild(script);
      };
      model.on("msg:custom", onMessage);
      model.send({ type: "plotly" });
    });
  }
  return window.headlightPlotly;
}

// The views that are not the explorer (rollout, head statistics): one Plotly figure from Python,
// redrawn in place; a click on a head tells Python (its customdata is [layer, head]).
async function drawFigure(el, model, figure) {
  let plot = el.querySelector(":scope > .hl-figure");
  const Plotly = await plotlyFromKernel(model);
  if (!plot) {
    el.replaceChildren();
    plot = element("div", "hl-figure", el);
    await Plotly.newPlot(plot, figure.data, figure.layout, figure.config || {});
    plot.on("plotly_click", (event) => {
      const point = event.points.find((p) => Array.isArray(p.customdata));
      if (point) model.send({ type: "click", layer: point.customdata[0], head: point.customdata[1] });
    });
  } else {
    await Plotly.react(plot, figure.data, figure.layout, figure.config || {});
  }
  el.dataset.messages = String(Number(el.dataset.messages || 0) + 1);
}

export default {
  render({ model, el }) {
    const key = `headlight-widget-${++widgetViews}`;
    el.classList.add("hl-widget");
    // Keys pressed in the widget (arrows on a slider) are the widget's, not the notebook's shortcuts.
    el.dataset.lmSuppressShortcuts = "true";
    el.addEventListener("keydown", (event) => event.stopPropagation());
    const host = { loadPlotly: () => plotlyFromKernel(model) };
    const setStateValue = (_name, value) => model.send({ type: "selection", ...value });
    const onMessage = (content, buffers) => {
      if (!content) return;
      if (content.type === "payload") mount(key, el, buffers[0], setStateValue, host);
      if (content.type === "figure") {
        drawFigure(el, model, JSON.parse(content.figure)).catch((error) => {
          el.replaceChildren();
          element("div", "hl-error", el).textContent = `The figure could not draw: ${error.message}`;
        });
      }
    };
    model.on("msg:custom", onMessage);
    model.send({ type: "hello" });
    return () => {
      model.off("msg:custom", onMessage);
      unmount(key);
    };
  },
};
