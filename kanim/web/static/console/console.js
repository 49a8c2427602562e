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

// -- desks-a: the intake desk's document camera -----------------------------------------------
// getUserMedia gives a live preview; "take the picture" draws the frame on a <canvas>, makes a
// JPEG of it and puts it in the scan form's file field, then sends the form: a picture from the
// camera is uploaded exactly like a scanned file (same route, same checks). The browser offers
// a camera only in a secure context (HTTPS, or the console on this very computer).
(function () {
  "use strict";
  var stream = null, sending = false;
  function $(id) { return document.getElementById(id); }
  function say(text) { var el = $("camera-status"); if (el) el.textContent = text; }
  function buttons(on) {
    if ($("camera-start")) $("camera-start").disabled = on;
    if ($("camera-capture")) $("camera-capture").disabled = !on;
    if ($("camera-stop")) $("camera-stop").disabled = !on;
  }
  function start(btn) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say(btn.dataset.unavailable); return; }
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false })
      .then(function (s) {
        stream = s;
        var video = $("camera-preview");
        video.srcObject = s;
        video.play();
        buttons(true);
        say(btn.dataset.ready);
      })
      .catch(function (err) { say(btn.dataset.refused + " " + err.name); });
  }
  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    if ($("camera-preview")) $("camera-preview").srcObject = null;
    buttons(false);
    say("");
  }
  function capture(btn) {
    var video = $("camera-preview"), form = $("scan-form"), still = $("camera-still");
    if (!stream || !form || !video.videoWidth) return;
    still.width = video.videoWidth;
    still.height = video.videoHeight;
    still.getContext("2d").drawImage(video, 0, 0);
    still.hidden = false;
    still.toBlob(function (blob) {
      var files = new DataTransfer();
      files.items.add(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      form.querySelector("input[type=file]").files = files.files;
      say(btn.dataset.sent);
      sending = true;
      form.requestSubmit();
    }, "image/jpeg", 0.92);
  }
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-camera]");
    if (!btn) return;
    var action = btn.dataset.camera;
    if (action === "start") start(btn);
    else if (action === "capture") capture(btn);
    else if (action === "stop") stop();
  });
  // Once the picture's upload is answered (the file swapped in, or the problem shown), the camera
  // is ready for the next document.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!sending) return;
    sending = false;
    var start = $("camera-start");
    say(start && e.detail.target.id === "intake-file" ? start.dataset.ready : "");
  });
  // Leaving the file, or intake closing (the camera's card is swapped out), turns the camera off.
  window.addEventListener("pagehide", stop);
  ["htmx:afterSwap", "htmx:oobAfterSwap"].forEach(function (name) {
    document.addEventListener(name, function () { if (stream && !$("camera-preview")) stop(); });
  });
})();
