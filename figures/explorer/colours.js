// The explorer's colours (joined with payload.js, explorer.js and a host adapter into one module).

// Colour scale and mode: switched here, in every chart at once, with no rerun (packer.py sends
// every scale's colours; thumbnails painted here are painted again, the server's PNGs get a new palette).
function buildColourControls(inst, controls) {
  const { colours, texts } = inst.header;
  const scaleLabel = element("label", "hl-slider hl-choice", controls);
  element("span", "hl-slider-label", scaleLabel).textContent = "Colour scale";
  inst.scaleSelect = element("select", "", scaleLabel);
  inst.scaleSelect.setAttribute("aria-label", "Colour scale");
  for (const name of colours.scales) element("option", "", inst.scaleSelect).textContent = name;
  const modes = element("div", "hl-modes", controls);
  modes.setAttribute("role", "radiogroup");
  modes.setAttribute("aria-label", "Colour");
  modes.title = texts.colour;
  element("span", "hl-slider-label", modes).textContent = "Colour";
  const row = element("div", "hl-mode-buttons", modes);
  inst.modeButtons = {};
  for (const mode of ["auto", "linear", "log"]) {
    const button = element("button", "hl-mode", row);
    button.type = "button";
    button.textContent = mode;
    button.setAttribute("role", "radio");
    button.addEventListener("click", () => chooseColour(inst, { ...inst.colour, mode }));
    inst.modeButtons[mode] = button;
  }
  inst.scaleSelect.addEventListener("change",
    () => chooseColour(inst, { ...inst.colour, scale: inst.scaleSelect.value }));
}

function chooseColour(inst, colour) {
  inst.colour = colour;
  inst.pendingColour = colour;
  send(inst);
  afterHostSend(() => applyColour(inst));
}

// "auto" is log colour from header.auto_log_from rows of the view shown (explorer.js sets autoLog),
// or of a view prepared ahead (view.js passes its own).
function colourNow(inst, autoLog = inst.autoLog) {
  const { colours } = inst.header;
  const { scale, mode } = inst.colour;
  const log = mode === "log" || (mode === "auto" && !!autoLog);
  const key = log ? "log" : "linear";
  return { scale, key, colorscale: colours.colorscale[scale][key], legend: colours.legend[key],
           palette: colours.palette[scale][key] };
}

// A PNG with its palette (PLTE chunk) replaced: the pixels are colour-independent codes.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
const repainted = new Map(); // palette + image -> data URI

function withPalette(uri, palette) {
  const key = palette + uri;
  if (repainted.has(key)) return repainted.get(key);
  const bytes = Uint8Array.from(atob(uri.slice(uri.indexOf(",") + 1)), (c) => c.charCodeAt(0));
  const colours = Uint8Array.from(atob(palette), (c) => c.charCodeAt(0));
  const chunks = new DataView(bytes.buffer);
  for (let at = 8; at < bytes.length;) {
    const length = chunks.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === "PLTE") {
      bytes.set(colours.subarray(0, length), at + 8);
      let crc = 0xffffffff;
      for (const b of bytes.subarray(at + 4, at + 8 + length)) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
      chunks.setUint32(at + 8 + length, (crc ^ 0xffffffff) >>> 0);
      break;
    }
    at += length + 12;
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const result = "data:image/png;base64," + btoa(binary);
  if (repainted.size > 64) repainted.delete(repainted.keys().next().value);
  repainted.set(key, result);
  return result;
}

function applyColour(inst) {
  if (!inst.Plotly || !inst.charts) return;
  const now = colourNow(inst);
  inst.scaleSelect.value = now.scale;
  for (const [mode, button] of Object.entries(inst.modeButtons)) {
    button.setAttribute("aria-checked", String(mode === inst.colour.mode));
  }
  if (inst.coloured === `${now.scale},${now.key}`) return;
  inst.coloured = `${now.scale},${now.key}`;
  for (const name of ["main", "window", "token"]) {
    const chart = inst.charts[name];
    if (chart && chart.plot.dataset.drawn) {
      inst.Plotly.restyle(chart.plot, { colorscale: [now.colorscale], "colorbar.title.text": now.legend }, [0]);
    }
  }
  for (const name of ["heads", "means", "overview"]) {
    const plot = inst.charts[name].plot;
    const source = sourceOf(inst.images?.[name], now.palette);
    if (plot.dataset.pending || !source) continue;
    plot.dataset.source = source.length + source.slice(-32);
    swapImage(inst, plot, source);
  }
}
