// Shaded text (figures.shaded_text's message): the text itself, each token's characters on a background
// whose hue is the sign of its score and whose opacity its size, with a tooltip "name: score" and a
// legend. Host-neutral: drawShaded(root, message, key) draws the view `key` of the message into root.
// Every character of the text, every label, title and tooltip is set as text (textContent, title),
// never parsed as HTML; the characters between tokens are the text's own, so its spacing is kept.
// The colours come in the message (figures/shaded_text.py holds them; its `background` is the same rule).

const SHADED_CLASS = "hl-shaded";
const LEGEND_CLASS = "hl-shaded-legend";

// The key of the view for these control values, as figures.shaded_text.view_key makes it.
function shadedViewKey(message, shown) {
  return message.controls.map((control) => String(shown[control.key])).join("|");
}

// The rgba() colour of one score: hue by sign, opacity by |score| / scale (capped at 1), to 3 decimals.
function shadeColour(style, score, scale) {
  if (score === null || !Number.isFinite(score) || !(scale > 0)) return "transparent";
  const alpha = style.max_alpha * Math.min(1, Math.abs(score) / scale);
  const [r, g, b] = score >= 0 ? style.positive : style.negative;
  return `rgba(${r},${g},${b},${alpha.toFixed(3)})`;
}

// A score as the tooltip shows it: 4 significant digits, a sign when the view is signed.
function shadeNumber(score, signed) {
  if (score === null || !Number.isFinite(score)) return "–";
  const shown = String(Number(score.toPrecision(4)));
  return signed && score >= 0 ? `+${shown}` : shown;
}

function shadedElement(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

// One line: its label, then the text with each drawn token's span shaded.
function shadedLine(message, line, signed) {
  const part = message.texts[line.text];
  const scores = message.vectors[line.vector];
  const row = shadedElement("div", SHADED_CLASS);
  Object.assign(row.style, { lineHeight: "1.9", margin: "0.15em 0", whiteSpace: "pre-wrap",
                             overflowWrap: "anywhere" });
  if (line.label !== null && line.label !== undefined) {
    const label = shadedElement("span", "hl-shaded-label", line.label);
    Object.assign(label.style, { display: "inline-block", minWidth: "11em", fontWeight: "600", marginRight: "0.6em" });
    row.append(label);
  }
  const text = part.text;
  let cursor = 0;
  for (const [start, end, token] of part.spans) {
    if (start > cursor) row.append(document.createTextNode(text.slice(cursor, start)));
    const score = scores[token];
    const characters = text.slice(start, end);
    const name = message.names ? message.names[token] : characters;
    const span = shadedElement("span", "hl-shaded-token", characters);
    span.title = `${name}: ${shadeNumber(score, signed)}`;
    span.dataset.token = String(token);
    span.style.background = shadeColour(message.style, score, line.scale);
    span.style.borderRadius = "3px";
    span.style.padding = "0.05em 0";
    row.append(span);
    cursor = end;
  }
  if (cursor < text.length) row.append(document.createTextNode(text.slice(cursor)));
  if (part.cut) row.append(document.createTextNode(part.cut));
  return row;
}

// The key to the colours: a gradient from the negative end (when signed) to the positive end, and the note.
function shadedLegend(style, signed, note) {
  const legend = shadedElement("div", LEGEND_CLASS);
  Object.assign(legend.style, { fontSize: "0.85em", display: "flex", alignItems: "center", gap: "0.5em",
                                margin: "0.3em 0", flexWrap: "wrap" });
  const end = (rgb) => `rgba(${rgb[0]},${rgb[1]},${rgb[2]},${style.max_alpha})`;
  const stops = signed ? `${end(style.negative)},transparent,${end(style.positive)}` : `transparent,${end(style.positive)}`;
  const bar = shadedElement("span");
  Object.assign(bar.style, { display: "inline-block", width: "12em", height: "0.9em", border: "1px solid #ccc",
                             background: `linear-gradient(to right,${stops})` });
  legend.append(shadedElement("span", "", signed ? "− largest" : "0"), bar,
                shadedElement("span", "", signed ? "+ largest" : "largest"));
  if (signed) legend.append(shadedElement("span", "", "(white = 0)"));
  if (note) legend.append(shadedElement("span", "", note));
  return legend;
}

// Draws view `key` of the message into root (its title, lines and legend), replacing what was there.
function drawShaded(root, message, key) {
  const view = message.views[key];
  const box = shadedElement("div", "hl-shaded-view");
  box.dataset.view = key;
  box.style.fontFamily = message.style.font;
  if (message.style.font_px) box.style.fontSize = `${message.style.font_px}px`;
  if (view.title) {
    const title = shadedElement("div", "hl-shaded-title", view.title);
    Object.assign(title.style, { fontWeight: "600", margin: "0.2em 0 0.3em" });
    box.append(title);
  }
  for (const line of view.lines) box.append(shadedLine(message, line, view.signed));
  box.append(shadedLegend(message.style, view.signed, view.note));
  root.replaceChildren(box);
}
