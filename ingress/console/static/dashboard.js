// Draws the dashboard's charts with uPlot from the JSON the server rendered.
(function () {
  "use strict";
  const COLOURS = ["#0b5fcc", "#b35900", "#1a7f37", "#8250df", "#cf222e", "#57606a"];
  const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3], [1, 3], [10, 5]];

  function draw() {
    const source = document.getElementById("chart-data");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    for (const chart of data.charts) {
      const target = document.querySelector(`[data-chart="${chart.id}"]`);
      const names = Object.keys(chart.series);
      if (!target || !names.length || !data.x.length) continue;
      const series = [{}].concat(names.map((name, i) => ({
        label: name, stroke: COLOURS[i % COLOURS.length], dash: DASHES[i % DASHES.length],
        width: 2, points: { show: true },
      })));
      const width = Math.max(280, Math.min(560, target.clientWidth || 560));
      new uPlot({ width, height: 220, series, scales: { x: { time: true } } },
                [data.x].concat(names.map((name) => chart.series[name])), target);
    }
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
