// The Streamlit host (ui._explorer_component, components v2): Streamlit calls this with every new
// payload; the browser's choices go back as the component's "selection" state.
export default function (component) {
  const { data, parentElement, setStateValue, key } = component;
  mount(key, parentElement, data, setStateValue);
}

// The page's View options are Streamlit widgets in the explorer's fragment (header.controls names
// their keys): a click on one reruns the fragment, whose message brings the option. Reading the
// click here as well lets the explorer draw the new view from the attention it holds at once,
// while that rerun runs (issue 18 §1: the server only learns the choice).
document.addEventListener("click", (event) => {
  const box = event.target.closest?.('[class*="st-key-"]');
  if (!box) return;
  for (const inst of instances.values()) {
    const controls = inst.header?.controls;
    if (!controls || !inst.root?.isConnected) continue; // an explorer no longer on the page
    for (const [option, key] of Object.entries(controls)) {
      if (!box.classList.contains(`st-key-${key}`)) continue;
      if (option === "block") {
        const button = event.target.closest("button");
        const block = button && !button.disabled ? button.textContent.trim() : null;
        if (block && inst.header.blocks.includes(block)) chooseShown(inst, { block });
      } else {
        const input = box.querySelector('input[type="checkbox"]');
        // read once the click has toggled it (the widget's own handler runs after this one)
        if (input && !input.disabled) setTimeout(() => chooseShown(inst, { [option]: input.checked }), 0);
      }
    }
  }
}, true);
