// The Streamlit host (ui._explorer_component, components v2): Streamlit calls this with every new
// payload; the browser's choices go back as the component's "selection" state.
export default function (component) {
  const { data, parentElement, setStateValue, key } = component;
  mount(key, parentElement, data, setStateValue);
}
