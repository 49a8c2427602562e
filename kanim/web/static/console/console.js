// kanim staff console: what the pages need beyond htmx. No framework, no network but kanim's own.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // A refused form answers 4xx with its problem: show it (htmx 2 swaps no error by default).
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "[45]..", swap: true, error: true },
      ];
      htmx.config.defaultSettleDelay = 0;
      htmx.config.historyCacheSize = 0; // personal data stays out of the browser's history cache
    }
    tick();
    setInterval(tick, 1000);
    var state = document.querySelector("[data-state]");
    if (state) lastState = state.dataset.state;
  });
  // Clear a form's old problem and field messages when it is sent again.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.target.closest && e.target.closest("form[id]");
    if (!form) return;
    var region = document.getElementById(form.id + "-problem");
    if (region) region.innerHTML = "";
    form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
  });
  // <time data-countdown="ISO"> counts down to a deadline (a billing code's expiry).
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, Math.floor((Date.parse(el.dataset.countdown) - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
      el.classList.toggle("expired", left === 0);
    });
  }
  // Recovery dashboard and national view (dashboard branch): the live region is re-read every
  // second; say a change of the link's state once (not every second), and say when the office's
  // server stops answering instead of showing old figures as if they were current.
  var lastState = null;
  document.addEventListener("htmx:afterSwap", function (e) {
    var live = document.querySelector("[data-live-region]");
    if (!live) return;
    live.classList.remove("stale");
    var stale = document.getElementById("dashboard-stale");
    if (stale) stale.hidden = true;
    var state = document.querySelector("[data-state]");
    var say = document.getElementById("link-announce");
    if (state && say && lastState !== null && state.dataset.state !== lastState) {
      say.textContent = state.textContent.replace(/\s+/g, " ").trim();
    }
    if (state) lastState = state.dataset.state;
  });
  function staleLive() {
    var live = document.querySelector("[data-live-region]");
    var stale = document.getElementById("dashboard-stale");
    if (live) live.classList.add("stale");
    if (stale) stale.hidden = false;
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    // A refused or failed poll keeps the region (and its polling) in place, marked stale.
    if (e.detail.target && e.detail.target.hasAttribute("data-live-region") && e.detail.xhr.status >= 400) {
      e.detail.shouldSwap = false;
      staleLive();
    }
  });
  document.addEventListener("htmx:sendError", staleLive);
  document.addEventListener("htmx:timeout", staleLive);
  window.kanim = { tick: tick };
})();
