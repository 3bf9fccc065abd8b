// The Streamlit host (ui.line_view, components v2): draw each new payload.
export default function (component) {
  const { data, parentElement } = component;
  drawLines(parentElement, data);
}
