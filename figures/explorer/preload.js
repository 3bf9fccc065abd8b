// The Attention page's plotly.js preloader (components.preload_plotly): mounted before the page's
// run, it starts loading plotly.js at once, so that the explorer, arriving with the run's end,
// finds it compiled or on its way. Draws nothing; a failure is the explorer's to report.
export default function (component) {
  loadPlotly(component.data.url).catch(() => {});
}
