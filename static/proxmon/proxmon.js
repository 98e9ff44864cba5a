// proxmon pages: live refresh over /ws/dashboard (polling every 60 s only while it is down),
// relative times, and the host charts (uPlot). No build step; served as is.
(function () {
  "use strict";

  // --- relative times --------------------------------------------------------------------
  function relative(date) {
    var delta = (Date.now() - date.getTime()) / 1000, future = delta < 0, text;
    delta = Math.abs(delta);
    if (delta < 45) return future ? "in a moment" : "just now";
    if (delta < 3600) text = Math.round(delta / 60) + " min";
    else if (delta < 172800) text = Math.round(delta / 3600) + " h";
    else text = Math.round(delta / 86400) + " days";
    return future ? "in " + text : text + " ago";
  }
  function refreshTimes(root) {
    // time.abs ("as of 06:41 UTC") dates old facts and stays absolute
    (root || document).querySelectorAll("time[datetime]:not(.abs)").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) el.textContent = relative(date);
    });
  }
  setInterval(refreshTimes, 30000);

  // --- live updates ------------------------------------------------------------------------
  var POLL_MS = 60000;
  var delay = 1000, socket = null, poller = null, wasDown = false;
  function indicator(on) {
    var el = document.getElementById("live");
    if (!el) return;
    el.classList.toggle("on", on);
    el.title = on ? "Live updates" : "Reconnecting; refreshing every 60 s meanwhile";
    el.dataset.state = on ? "live" : "polling";
    var label = el.querySelector(".label");
    if (label) label.textContent = on ? "live" : "polling";
  }
  function refreshAll() {
    var fleet = document.getElementById("fleet");
    if (fleet) htmx.trigger(fleet, "refresh");
    var live = document.getElementById("host-live");
    if (live) { htmx.trigger(live, "refresh"); loadCharts(false); }
  }
  // Polling runs only while the socket is down: the socket says when something changed.
  function polling(on) {
    if (on && !poller) poller = setInterval(refreshAll, POLL_MS);
    if (!on && poller) { clearInterval(poller); poller = null; }
  }
  function onChanged(hosts) {
    var fleet = document.getElementById("fleet");
    // the overview fetches only the named hosts' cards (overview.js)
    if (fleet && window.proxmonOverview) window.proxmonOverview.changed(hosts, refreshTimes);
    else if (fleet) htmx.trigger(fleet, "refresh");
    var live = document.getElementById("host-live");
    if (live && hosts.indexOf(live.dataset.host) !== -1) {
      htmx.trigger(live, "refresh");
      loadCharts(false);
    }
  }
  function connect() {
    if (!document.getElementById("fleet") && !document.getElementById("host-live")) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/dashboard");
    socket.onopen = function () {
      delay = 1000;
      indicator(true);
      polling(false);
      if (wasDown) refreshAll();  // what changed while the socket was down
      wasDown = false;
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "changed") onChanged(message.hosts);
    };
    socket.onclose = function () {
      indicator(false);
      polling(true);
      wasDown = true;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  // --- charts ------------------------------------------------------------------------------
  var charts = {}, hours = 24;
  var GiB = 1024 * 1024 * 1024;
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  // uPlot gives a single point (every new host's first minute) 1,000 days to its right; one
  // point gets ten minutes either side of it, no point the selected range ending now.
  function timeRange(u, min, max) {
    var t = u.data[0] || [];
    if (t.length === 1) return [t[0] - 600, t[0] + 600];
    if (!t.length || min === null || max === null) {
      var now = Date.now() / 1000;
      return [now - hours * 3600, now];
    }
    return [min, max];
  }
  function chartOptions(title, series, width, yFormat) {
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
  function draw(id, title, series, data, yFormat) {
    var el = document.getElementById(id);
    if (!el) return;
    if (charts[id]) { charts[id].setData(data); return; }
    el.textContent = "";
    charts[id] = new uPlot(chartOptions(title, series, el.clientWidth || 300, yFormat), data, el);
    el.uplot = charts[id];  // for the browser tests: its scales and axis labels
  }
  function loadCharts(reset) {
    var box = document.getElementById("charts");
    if (!box || typeof uPlot === "undefined") return;
    if (reset) { Object.keys(charts).forEach(function (k) { charts[k].destroy(); }); charts = {}; }
    fetch(box.dataset.url + "?hours=" + hours, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        document.getElementById("chart-hours").textContent = d.hours;
        box.dataset.points = d.t.length;
        var mem = d.mem.map(function (v) { return v === null ? null : v / GiB; });
        var memTotal = d.mem_total.map(function (v) { return v === null ? null : v / GiB; });
        draw("chart-cpu", "CPU %", [{ label: "CPU %", stroke: css("--accent"), width: 1.5 }],
             [d.t, d.cpu], function (u, v) { return v.map(function (x) { return x + " %"; }); });
        draw("chart-mem", "RAM GiB", [
          { label: "used", stroke: css("--green"), width: 1.5 },
          { label: "total", stroke: css("--muted"), width: 1, dash: [4, 4] }],
          [d.t, mem, memTotal], function (u, v) { return v.map(function (x) { return x.toFixed(1); }); });
        draw("chart-load", "Load", [
          { label: "1 min", stroke: css("--yellow"), width: 1.5 },
          { label: "5 min", stroke: css("--accent"), width: 1 },
          { label: "15 min", stroke: css("--muted"), width: 1 }],
          [d.t, d.load1, d.load5, d.load15]);
        box.dataset.drawn = "yes";
      });
  }
  function setupCharts() {
    var box = document.getElementById("charts");
    if (!box) return;
    box.querySelectorAll("button.range").forEach(function (b) {
      b.classList.toggle("active", +b.dataset.hours === hours);
      b.addEventListener("click", function () {
        hours = +b.dataset.hours;
        box.querySelectorAll("button.range").forEach(function (o) { o.classList.toggle("active", o === b); });
        loadCharts(true);
      });
    });
    loadCharts(true);
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

  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes();  // a card may have been rendered a while ago (dashboard/cards.py)
    connect();
    setupCharts();
  });
  document.addEventListener("htmx:afterSwap", function (event) { refreshTimes(event.target); });
})();
