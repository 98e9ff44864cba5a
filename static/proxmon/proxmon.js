// proxmon pages: live refresh over /ws/dashboard (polling every 60 s only while it is down),
// relative times (the host charts: charts.js). No build step; served as is.
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

  // The host page's charts live in charts.js.
  function refreshCharts() { if (window.proxmonCharts) window.proxmonCharts.refresh(); }

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
    if (live) { htmx.trigger(live, "refresh"); refreshCharts(); }
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
      refreshCharts();
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

  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes();  // a card may have been rendered a while ago (dashboard/cards.py)
    connect();
  });
  document.addEventListener("htmx:afterSwap", function (event) { refreshTimes(event.target); });
})();
