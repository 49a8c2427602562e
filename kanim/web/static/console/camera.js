// kanim staff console: a desk camera in the browser (getUserMedia). A live preview with the
// passport frame drawn over it; "take the photo" copies that frame (35x45, the full height of
// the picture) onto a <canvas>, makes it a JPEG, puts it in the form's file input and sends the
// form, so the server checks a camera photo exactly as it checks a file. Nothing leaves the
// browser but that form.
//
// Markup: <div data-camera data-camera-input="ID of the form's file input"
//   data-msg-live data-msg-refused data-msg-unavailable data-msg-sending>
//   <video> <canvas hidden> <button data-camera-start> <button data-camera-capture>
//   <p data-camera-status></div>
(function () {
  "use strict";
  var ASPECT = 35 / 45; // width / height of a passport photo
  var streams = []; // [video, stream]: stopped when htmx swaps their video out of the page

  function setUp(root) {
    if (root.dataset.cameraReady) return;
    root.dataset.cameraReady = "1";
    var video = root.querySelector("video");
    var canvas = root.querySelector("canvas");
    var start = root.querySelector("[data-camera-start]");
    var take = root.querySelector("[data-camera-capture]");
    var status = root.querySelector("[data-camera-status]");
    var say = function (key) { status.textContent = root.dataset[key] || ""; };

    start.addEventListener("click", function () {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say("msgUnavailable"); return; }
      navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false })
        .then(function (stream) {
          video.srcObject = stream;
          streams.push([video, stream]);
          return video.play();
        })
        .then(function () { take.disabled = false; start.disabled = true; say("msgLive"); })
        .catch(function () { say("msgRefused"); });
    });

    take.addEventListener("click", function () {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) return;
      // The guide's frame: the full height, 35:45 wide, centred (or the full width of a
      // picture narrower than that).
      var cw = Math.min(w, Math.round(h * ASPECT)), ch = Math.min(h, Math.round(cw / ASPECT));
      canvas.width = cw;
      canvas.height = ch;
      canvas.getContext("2d").drawImage(video, (w - cw) / 2, (h - ch) / 2, cw, ch, 0, 0, cw, ch);
      canvas.toBlob(function (blob) {
        var input = document.getElementById(root.dataset.cameraInput);
        if (!blob || !input) { say("msgRefused"); return; }
        var files = new DataTransfer();
        files.items.add(new File([blob], "camera.jpg", { type: "image/jpeg" }));
        input.files = files.files;
        say("msgSending");
        take.disabled = true; // one still at a time: a double click sends one photo
        input.form.addEventListener("htmx:afterRequest", function () { take.disabled = false; say("msgLive"); },
                                    { once: true });
        input.form.requestSubmit();
      }, "image/jpeg", 0.92);
    });
  }

  function scan(el) {
    if (el.matches && el.matches("[data-camera]")) setUp(el);
    if (el.querySelectorAll) el.querySelectorAll("[data-camera]").forEach(setUp);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.target); });
  // A camera left on after its page part is gone (capture completed) is switched off.
  document.addEventListener("htmx:afterSettle", function () {
    streams = streams.filter(function (pair) {
      if (pair[0].isConnected) return true;
      pair[1].getTracks().forEach(function (t) { t.stop(); });
      return false;
    });
  });
  window.kanimCamera = { scan: scan };
})();
