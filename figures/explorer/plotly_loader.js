// plotly.js, loaded once per page from the URL the app serves it at, whoever asks first: the
// Attention page's preloading script (figures.explorer.preload_js, put on the page before the
// page's run: plotly.js then downloads and compiles while the server runs the model) or the
// explorer, which arrives with the run. The two are separate scripts, so the promise is kept on
// window; until it has loaded, the explorer waits on it instead of loading a second copy
// (issue 18 §2).

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.headlightPlotlyLoading) {
    window.headlightPlotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.headlightPlotlyLoading = null; // the next asker tries again
        reject(new Error(`plotly.js did not load from ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.headlightPlotlyLoading;
}
