// The host page's charts (uPlot), from /hosts/<name>/series.json?range=... (docs/history.md):
// CPU, memory, load, pool capacity, storage usage over 6 h to a year, and one guest's CPU and
// memory on demand. Raw points up to 48 h, 5-minute and hourly averages beyond (with their
// maxima as a thin line). No build step; served as is. proxmon.js calls
// window.proxmonCharts.refresh() when the host changed.
(function () {
  "use strict";

  var charts = {}, range = "24h", guest = null, shape = {};
  var RANGE_S = { "6h": 21600, "24h": 86400, "48h": 172800, "7d": 604800, "30d": 2592000,
                  "90d": 7776000, "1y": 31536000 };
  var GiB = 1024 * 1024 * 1024;
  var PALETTE = ["--accent", "--green", "--yellow", "--red", "--muted"];
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function color(i) { return css(PALETTE[i % PALETTE.length]); }
  // uPlot gives a single point (every new host's first minute) 1,000 days to its right; one
  // point gets ten minutes either side of it, no point the selected range ending now.
  function timeRange(u, min, max) {
    var t = u.data[0] || [];
    if (t.length === 1) return [t[0] - 600, t[0] + 600];
    if (!t.length || min === null || max === null) {
      var now = Date.now() / 1000;
      return [now - RANGE_S[range], now];
    }
    return [min, max];
  }
  function options(title, series, width, yFormat) {
    return {
      title: title, width: width, height: 170,
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true, range: timeRange } },
      axes: [
        { stroke: css("--muted"), grid: { stroke: css("--line") } },
        { stroke: css("--muted"), grid: { stroke: css("--line") }, size: 55, values: yFormat }
      ],
      series: [{}].concat(series)
    };
  }
  // A chart is made again when its series change (another range, a pool more); else new data.
  function draw(id, title, series, data, yFormat) {
    var el = document.getElementById(id);
    if (!el) return;
    var key = series.map(function (s) { return s.label; }).join("|");
    if (charts[id] && shape[id] === key) { charts[id].setData(data); return; }
    if (charts[id]) charts[id].destroy();
    el.textContent = "";
    shape[id] = key;
    charts[id] = new uPlot(options(title, series, el.clientWidth || 300, yFormat), data, el);
    el.uplot = charts[id];  // for the browser tests: its scales and axis labels
  }
  function line(label, i, width, dash) {
    var s = { label: label, stroke: color(i), width: width || 1.5 };
    if (dash) s.dash = dash;
    return s;
  }
  function scaled(values, by) { return values.map(function (v) { return v === null ? null : v / by; }); }
  function percent(u, v) { return v.map(function (x) { return x + " %"; }); }
  function gib(u, v) { return v.map(function (x) { return x.toFixed(1); }); }

  // Series of different lengths (pools come and go) on one time axis: every t of any of them,
  // null where one has no point.
  function joined(parts) {
    var times = {};
    parts.forEach(function (p) { p.t.forEach(function (t) { times[t] = true; }); });
    var t = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var data = [t];
    parts.forEach(function (p) {
      var at = {};
      p.t.forEach(function (x, i) { at[x] = p.values[i]; });
      data.push(t.map(function (x) { return x in at ? at[x] : null; }));
    });
    return data;
  }
  function filled(kind, used, total) {
    var names = Object.keys(kind).sort();
    return {
      names: names,
      parts: names.map(function (name) {
        var s = kind[name];
        return { t: s.t, values: s[used].map(function (v, i) {
          var cap = s[total][i];
          return v === null || !cap ? null : Math.round(v * 1000 / cap) / 10;
        }) };
      })
    };
  }
  function drawVolumes(id, title, kind, used, total, empty) {
    var found = filled(kind, used, total), el = document.getElementById(id);
    if (!el) return;
    if (!found.names.length) {
      if (charts[id]) { charts[id].destroy(); delete charts[id]; }
      el.textContent = empty;
      return;
    }
    draw(id, title, found.names.map(function (n, i) { return line(n, i); }), joined(found.parts), percent);
  }

  function drawHost(d) {
    var h = d.host, box = document.getElementById("charts");
    var cpu = [line("CPU %", 0)], cpuData = [h.t, h.cpu];
    if (h.cpu_max) { cpu.push(line("max", 3, 1, [4, 4])); cpuData.push(h.cpu_max); }
    draw("chart-cpu", "CPU %", cpu, cpuData, percent);
    var mem = [line("used", 1)], memData = [h.t, scaled(h.mem, GiB)];
    if (h.mem_max) { mem.push(line("max", 3, 1, [4, 4])); memData.push(scaled(h.mem_max, GiB)); }
    mem.push(line("total", 4, 1, [2, 4])); memData.push(scaled(h.mem_total, GiB));
    draw("chart-mem", "RAM GiB", mem, memData, gib);
    if (h.load5) {
      draw("chart-load", "Load", [line("1 min", 2), line("5 min", 0, 1), line("15 min", 4, 1)],
           [h.t, h.load, h.load5, h.load15]);
    } else {
      draw("chart-load", "Load (1 min)", [line("average", 2), line("max", 3, 1, [4, 4])],
           [h.t, h.load, h.load_max]);
    }
    drawVolumes("chart-pools", "Pool capacity %", d.pools, "allocated", "size", "No pool history yet.");
    drawVolumes("chart-storage", "Storage usage %", d.storage, "used", "total", "No storage history yet.");
    box.dataset.points = h.t.length;
    box.dataset.source = d.source;
  }
  function drawGuest(d) {
    var g = d.guest, box = document.getElementById("guest-chart");
    if (!g || !box) return;
    box.hidden = false;
    document.getElementById("guest-chart-name").textContent = box.dataset.name || g.vmid;
    draw("chart-guest-cpu", "CPU % (hourly)", [line("average", 0), line("max", 3, 1, [4, 4])],
         [g.t, g.cpu, g.cpu_max], percent);
    draw("chart-guest-mem", "RAM GiB (hourly)", [line("average", 1), line("max", 3, 1, [4, 4])],
         [g.t, scaled(g.mem, GiB), scaled(g.mem_max, GiB)], gib);
    box.dataset.points = g.t.length;
  }

  function load() {
    var box = document.getElementById("charts");
    if (!box || typeof uPlot === "undefined") return;
    var url = box.dataset.url + "?range=" + range + (guest === null ? "" : "&guest=" + guest);
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (d.range !== range) return;  // an answer to an earlier click
        document.getElementById("chart-range").textContent = box.querySelector(
          'button.range[data-range="' + range + '"]').textContent;
        drawHost(d);
        if (guest !== null) drawGuest(d);
        box.dataset.drawn = "yes";
      });
  }
  function pick(next) {
    var box = document.getElementById("charts");
    range = next;
    box.querySelectorAll("button.range").forEach(function (b) {
      b.classList.toggle("active", b.dataset.range === range);
      b.setAttribute("aria-pressed", b.dataset.range === range ? "true" : "false");
    });
    box.dataset.drawn = "";
    load();
  }
  function setup() {
    var box = document.getElementById("charts");
    if (!box) return;
    box.querySelectorAll("button.range").forEach(function (b) {
      b.addEventListener("click", function () { pick(b.dataset.range); });
    });
    // Guest rows are swapped by the live refresh: listen on the document.
    document.addEventListener("click", function (event) {
      var button = event.target.closest("button.guest-chart");
      if (button) {
        guest = button.dataset.vmid;
        document.getElementById("guest-chart").dataset.name = button.dataset.name;
        load();
        document.getElementById("guest-chart").scrollIntoView({ block: "nearest" });
      }
      if (event.target.closest("#guest-chart-close")) {
        guest = null;
        document.getElementById("guest-chart").hidden = true;
      }
    });
    pick(range);
    var resize;
    window.addEventListener("resize", function () {
      clearTimeout(resize);
      resize = setTimeout(function () {
        Object.keys(charts).forEach(function (id) {
          var el = document.getElementById(id);
          if (el) charts[id].setSize({ width: el.clientWidth, height: 170 });
        });
      }, 150);
    });
  }

  window.proxmonCharts = { refresh: load };
  document.addEventListener("DOMContentLoaded", setup);
})();
