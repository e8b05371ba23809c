/* Session Ledger charts: time series drawn with uPlot (vendored beside this file).
 *
 * LedgerCharts.time(element, spec) draws a chart into element and returns a handle whose
 * update(spec) redraws it with new data (the same series: in place; others: rebuilt).
 * spec: {title, x: [epoch seconds], series: [{label, values: [number|null]}],
 *        marks: [{at: epoch seconds, label}], height, stepped}
 * Values show on hover in the legend; drag across the chart to zoom on time, double-click to
 * zoom out. Times are shown in UTC.
 */
(function (global) {
  'use strict';
  var PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04',
                 '#db2777', '#4b5563', '#65a30d'];
  var MARK = '#f59e0b';

  function utc(ts) { return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'); }

  function hhmm(ts) { return new Date(ts * 1000).toISOString().slice(11, 16); }

  function marksPlugin(getMarks) {
    return {
      hooks: {
        draw: [function (u) {
          var marks = getMarks() || [];
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          ctx.save();
          ctx.strokeStyle = MARK;
          ctx.fillStyle = '#92400e';
          ctx.lineWidth = 1.5 * uPlot.pxRatio;
          ctx.setLineDash([5 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
          ctx.font = (11 * uPlot.pxRatio) + 'px system-ui, sans-serif';
          marks.forEach(function (mark) {
            var x = Math.round(u.valToPos(mark.at, 'x', true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            if (mark.label) { ctx.fillText(mark.label, x + 3 * uPlot.pxRatio, top + 12 * uPlot.pxRatio); }
          });
          ctx.restore();
        }]
      }
    };
  }

  function options(element, spec, state) {
    var stepped = spec.stepped ? uPlot.paths.stepped({align: 1}) : undefined;
    var series = [{label: 'time (UTC)', value: '{YYYY}-{MM}-{DD} {HH}:{mm}'}];
    spec.series.forEach(function (s, i) {
      series.push({label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5,
                   paths: stepped, points: {show: spec.x.length <= 90, size: 4},
                   value: function (u, v) { return v == null ? '-' : (Math.round(v * 100) / 100).toLocaleString('en'); }});
    });
    return {
      title: spec.title || '',
      width: Math.max(320, element.clientWidth || 900),
      height: spec.height || 220,
      tzDate: utc,
      scales: {x: {time: true}, y: {range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; }}},
      cursor: {drag: {x: true, y: false}},
      axes: [{values: function (u, splits) { return splits.map(hhmm); }}, {}],
      series: series,
      plugins: [marksPlugin(function () { return state.marks; })]
    };
  }

  function data(spec) {
    return [spec.x].concat(spec.series.map(function (s) { return s.values; }));
  }

  function labels(spec) { return spec.series.map(function (s) { return s.label; }).join('\u0001'); }

  function time(element, spec) {
    var state = {marks: spec.marks || [], labels: labels(spec), chart: null};
    function build(current) {
      while (element.firstChild) { element.removeChild(element.firstChild); }
      state.chart = new uPlot(options(element, current, state), data(current), element);
      element.dataset.series = String(current.series.length);
      element.dataset.points = String(current.x.length);
    }
    build(spec);
    return {
      update: function (next) {
        state.marks = next.marks || [];
        if (labels(next) !== state.labels || !state.chart) {
          state.labels = labels(next);
          if (state.chart) { state.chart.destroy(); }
          build(next);
          return;
        }
        state.chart.setData(data(next));
        element.dataset.points = String(next.x.length);
      },
      chart: function () { return state.chart; }
    };
  }

  global.LedgerCharts = {time: time, palette: PALETTE};
})(window);
