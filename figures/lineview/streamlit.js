// The Streamlit host (components.line_view, components v2): each message holds the layer's attention
// and the page's view options (figures.lineview.message); the lines are drawn from it here.
const lineViews = new Map(); // component key -> {root, held, shown, pending, pendingAt, kept, drawn}
const SHOWN_WAIT_MS = 5000; // a local view option the page never confirmed gives way to the page's

export default function (component) {
  const { data, parentElement, key } = component;
  const view = lineViews.get(key) || { pending: null, pendingAt: 0, kept: null, drawn: null };
  lineViews.set(key, view);
  view.root = parentElement;
  view.held = readLines(data);
  const server = view.held.header.shown;
  const confirmed = view.pending && Object.entries(view.pending).every(([option, value]) => server[option] === value);
  if (confirmed || performance.now() - view.pendingAt > SHOWN_WAIT_MS) view.pending = null;
  view.shown = { ...server, ...(view.pending || {}) };
  show(view, "message");
}

// Draws the view's lines, unless they are those drawn already (the page confirming a local choice).
// `source` ("click" or "message") is kept on the root: the tests see which drew what is shown.
function show(view, source) {
  const data = linesOf(view.held, view.shown);
  const drawn = JSON.stringify(data);
  if (drawn === view.drawn && view.root.firstChild) return;
  view.drawn = drawn;
  view.root.dataset.drawnBy = source;
  if (data) {
    view.kept = drawLines(view.root, data, view.kept);
  } else {
    const nothing = document.createElement("div");
    nothing.className = "hl-lines-hidden";
    nothing.textContent = view.held.header.texts.nothing || "";
    view.root.replaceChildren(nothing);
  }
}

// The page's View options are Streamlit widgets in the line view's fragment (header.controls names
// their keys): a click on one reruns the fragment, whose message brings the option. Reading the
// click here too draws the new view from the attention held at once (issue 18 §1), as the
// explorer's host does (figures/explorer/streamlit.js).
document.addEventListener("click", (event) => {
  const box = event.target.closest?.('[class*="st-key-"]');
  if (!box) return;
  for (const view of lineViews.values()) {
    if (!view.root.isConnected) continue;
    for (const [option, key] of Object.entries(view.held.header.controls)) {
      if (!box.classList.contains(`st-key-${key}`)) continue;
      const input = box.querySelector('input[type="checkbox"]');
      if (!input || input.disabled) continue;
      // read once the click has toggled it (the widget's own handler runs after this one)
      setTimeout(() => {
        const shown = { ...view.shown, [option]: input.checked };
        if (!canDraw(view.held, shown)) return; // not sent for that view: the page's message draws it
        view.pending = { ...(view.pending || {}), [option]: input.checked };
        view.pendingAt = performance.now();
        view.shown = shown;
        show(view, "click");
      }, 0);
    }
  }
}, true);
