// The Streamlit host (components.shaded_text, components v2): each message holds every view its page's
// widgets can choose (figures.shaded_text.message); the one they show is drawn here.
const shadedTexts = new Map(); // component key -> {root, held, shown, pending, pendingAt, drawn}
const SHADED_WAIT_MS = 5000; // a local choice the page never confirmed gives way to the page's

export default function (component) {
  const { data, parentElement, key } = component;
  const shaded = shadedTexts.get(key) || { pending: null, pendingAt: 0, drawn: null };
  shadedTexts.set(key, shaded);
  shaded.root = parentElement;
  shaded.held = typeof data === "string" ? JSON.parse(data) : data;
  const server = shaded.held.shown;
  const confirmed = shaded.pending && Object.entries(shaded.pending).every(([widget, value]) => server[widget] === value);
  if (shaded.pending && confirmed && performance.getEntriesByName("hl-shaded-click").length) {
    // the page's rerun brings the choice drawn at the click: the round trip the browser saved
    performance.measure("hl-shaded-confirmed", "hl-shaded-click");
  }
  if (confirmed || performance.now() - shaded.pendingAt > SHADED_WAIT_MS) shaded.pending = null;
  shaded.shown = { ...server, ...(shaded.pending || {}) };
  if (!(shadedViewKey(shaded.held, shaded.shown) in shaded.held.views)) shaded.shown = { ...server };
  show(shaded, "message");
}

// Draws the view shown, unless it is the one drawn already (the page confirming a local choice).
// `source` ("click" or "message") is kept on the root: the tests see which drew what is shown.
function show(shaded, source) {
  const message = shaded.held;
  const key = shadedViewKey(message, shaded.shown);
  const view = message.views[key];
  const drawing = JSON.stringify([key, message.texts, message.names, message.style, view,
                                  view.lines.map((line) => message.vectors[line.vector])]);
  if (drawing === shaded.drawn && shaded.root.firstChild) return;
  shaded.drawn = drawing;
  shaded.root.dataset.drawnBy = source;
  drawShaded(shaded.root, message, key);
  if (source === "click") {
    // after the frame that shows it: click to drawn, for bench/shaded_text.py
    requestAnimationFrame(() => setTimeout(() => performance.measure("hl-shaded-redraw", "hl-shaded-click"), 0));
  }
}

// The page's widgets that choose the view are Streamlit segmented controls (message.controls names
// their keys and maps their buttons' text to values): a click reruns the page's fragment, whose
// message brings the choice. Reading the click here too draws the new view from the scores held at
// once (issue 18 §1), as the line view's host does (figures/lineview/streamlit.js).
document.addEventListener("click", (event) => {
  const box = event.target.closest?.('[class*="st-key-"]');
  const button = event.target.closest?.("button");
  if (!box || !button || button.disabled) return;
  const text = button.textContent.trim();
  for (const shaded of shadedTexts.values()) {
    if (!shaded.root.isConnected) continue;
    for (const control of shaded.held.controls) {
      if (!box.classList.contains(`st-key-${control.key}`) || !(text in control.labels)) continue;
      const choice = { [control.key]: control.labels[text] };
      const shown = { ...shaded.shown, ...choice };
      if (!(shadedViewKey(shaded.held, shown) in shaded.held.views)) continue; // the page's message draws it
      performance.clearMarks("hl-shaded-click");
      performance.mark("hl-shaded-click");
      shaded.pending = { ...(shaded.pending || {}), ...choice };
      shaded.pendingAt = performance.now();
      shaded.shown = shown;
      show(shaded, "click");
    }
  }
}, true);
