// The explorer's payload, read in the browser (packer.py packs it; PROTOCOL.md has the format):
// the binary message, deflated blobs, quantized layers and hover values.
// Joined with colours.js, explorer.js and a host adapter into one module (figures.explorer.module_js).

// The message (PROTOCOL.md): an ArrayBuffer, or a view of one (Streamlit sends a Uint8Array, a
// notebook comm a DataView).
function readPayload(data) {
  const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const message = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const start = 4 + length;
  const blobs = message.blobs.map(([offset, size]) => bytes.slice(start + offset, start + offset + size));
  return { header: message, blobs };
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// One layer's heads as held: float32 as sent, or the 7-bit log codes of every row against the row's
// largest weight on an ordinary token, with those maxima and the special tokens' columns exactly
// (packer.quantize_heads); a long text's codes take a byte a weight, so every layer of a 512-token
// text can stay in the browser.
async function decodeLayer(header, entry, blob, scales) {
  if (!entry.deflated) return { floats: new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4) };
  return decodeCodes(header, await inflate(blob), scales);
}

function decodeCodes(header, codes, scales) {
  const [, nHeads, nTokens] = header.shape;
  const floats = new Float32Array(scales.buffer, scales.byteOffset, scales.byteLength / 4);
  const fractions = new Float64Array(header.levels + 1); // figures.common.code_fractions
  for (let c = 1; c <= header.levels; c++) fractions[c] = Math.pow(10, header.decades * ((c - 1) / (header.levels - 1) - 1));
  const special = header.tokens.special.flatMap((s, p) => (s ? [p] : []));
  return { codes, fractions, special, maxima: floats.subarray(0, nHeads * nTokens), specials: floats.subarray(nHeads * nTokens) };
}

// readRow(h, q, buffer): the held weights of head h's row for query token q (transform.js reads
// layers through it).
function rowReader(layer, nTokens) {
  const cells = nTokens * nTokens;
  if (layer.floats) {
    return (h, q, buffer) => buffer.set(layer.floats.subarray(h * cells + q * nTokens, h * cells + (q + 1) * nTokens));
  }
  const { codes, fractions, maxima, specials, special } = layer;
  return (h, q, buffer) => {
    const from = h * cells + q * nTokens, row = h * nTokens + q, top = maxima[row];
    for (let k = 0; k < nTokens; k++) buffer[k] = fractions[codes[from + k]] * top;
    for (let s = 0; s < special.length; s++) buffer[special[s]] = specials[row * special.length + s];
  };
}

// Weights as hover shows them (four decimals): deflated uint16 counts of 1 / scale.
async function hoverValues(blob, scale) {
  const bytes = await inflate(blob);
  const counts = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const out = new Float32Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = counts[i] / scale;
  return out;
}
