// The overview's live refresh: when the socket names hosts that changed, ask for those hosts'
// cards only (GET the overview's own URL with ?hosts=a,b). The answer holds the fleet line, the
// order of every card the page shows (name and stamp) and the asked cards; cards the page has
// whose stamp did not change stay the same DOM nodes. proxmon.js calls changed(); without the
// socket it refreshes the whole #fleet by polling, as before.
(function () {
  "use strict";

  var CHUNK = 100;  // names per request (the server takes up to 200)
  var pending = {}, busy = false, refreshTimes = function () {};

  function cardsIn(root) {
    var found = {};
    root.querySelectorAll("article.card[data-host]").forEach(function (card) {
      found[card.dataset.host] = card;
    });
    return found;
  }

  function whole(fleet) { htmx.trigger(fleet, "refresh"); }

  // Apply one answer to #fleet; returns the hosts whose card is missing or out of date (a new
  // host, or one that changed without the socket naming it: the clock, an alert firing).
  function apply(fleet, html) {
    var box = document.createElement("template");
    box.innerHTML = html;
    var update = box.content;
    var order = JSON.parse(update.getElementById("fleet-order").textContent);
    var grid = fleet.querySelector(".grid");
    if (!grid || !order.length) { whole(fleet); return []; }  // from or to "No host matches."
    fleet.querySelector(".fleet-line").replaceWith(update.querySelector(".fleet-line"));
    var fresh = cardsIn(update), old = cardsIn(grid), wanted = [], outdated = [];
    order.forEach(function (entry) {
      var name = entry[0], stamp = entry[1], card = fresh[name];
      if (!card) {
        card = old[name];
        if (!card || card.dataset.stamp !== stamp) outdated.push(name);
      }
      if (card) wanted.push(card);
    });
    var keep = new Set(wanted);
    Array.prototype.slice.call(grid.children).forEach(function (el) {
      if (!keep.has(el)) el.remove();
    });
    wanted.forEach(function (card, i) {
      if (grid.children[i] !== card) grid.insertBefore(card, grid.children[i] || null);
    });
    Object.keys(fresh).forEach(function (name) { refreshTimes(fresh[name]); });
    fleet.dataset.refreshed = String(+(fleet.dataset.refreshed || 0) + 1);  // for the tests
    return outdated;
  }

  function next() {
    var fleet = document.getElementById("fleet");
    var names = Object.keys(pending).slice(0, CHUNK);
    if (busy || !fleet || !names.length) return;
    names.forEach(function (name) { delete pending[name]; });
    busy = true;
    var url = new URL(fleet.getAttribute("hx-get"), location.href);
    url.searchParams.set("hosts", names.join(","));
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (fleet !== document.getElementById("fleet")) {
          names.forEach(function (name) { pending[name] = true; });  // filters changed meanwhile
          return;
        }
        apply(fleet, html).forEach(function (name) { pending[name] = true; });
      })
      .catch(function () { whole(fleet); })
      .finally(function () { busy = false; next(); });
  }

  window.proxmonOverview = {
    changed: function (hosts, times) {
      if (times) refreshTimes = times;
      hosts.forEach(function (name) { pending[name] = true; });
      next();
    }
  };
})();
