// The explorer's payload, read in the browser (packer.py packs it; PROTOCOL.md has the format):
// plotly.js, the binary message, deflated blobs, quantized layers and hover values.
// Joined with colours.js, explorer.js and a host adapter into one module (figures.explorer.module_js).

let plotlyLoading = null;

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { plotlyLoading = null; reject(new Error(`plotly.js did not load from ${url}`)); };
      document.head.appendChild(script);
    });
  }
  return plotlyLoading;
}

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

// One layer's heads as float32: as sent, or decoded from 7-bit log codes (packer.dequantize_heads).
async function decodeLayer(header, entry, blob) {
  if (!entry.deflated) return new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4);
  const codes = await inflate(blob);
  const [, nHeads, nRows, nCols] = header.shape;
  const cells = nRows * nCols, out = new Float32Array(nHeads * cells);
  const table = new Float32Array(256);
  for (let h = 0; h < nHeads; h++) {
    for (let c = 1; c <= header.levels; c++) {
      table[c] = entry.maxima[h] * Math.pow(10, header.decades * ((c - 1) / (header.levels - 1) - 1));
    }
    for (let i = h * cells; i < (h + 1) * cells; i++) out[i] = table[codes[i]];
  }
  return out;
}

// Weights as hover shows them (four decimals): deflated uint16 counts of 1 / scale.
async function hoverValues(blob, scale) {
  const bytes = await inflate(blob);
  const counts = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const out = new Float32Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = counts[i] / scale;
  return out;
}
