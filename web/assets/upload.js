// The upload form's live progress bar. The file is sent as the request body to /ui/uploads/csv,
// which streams it on to the ingestor as it arrives: the bytes sent follow the rows ingested.
// Without this script the form still works (multipart, no progress bar).
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest) return;
  var bar = document.getElementById("upload-progress");
  var pct = document.querySelector('[data-for="upload-progress"]');
  var status = document.getElementById("upload-status");
  var button = form.querySelector("button[type=submit]");

  function show(percent) {
    bar.value = percent;
    bar.textContent = percent + " %";
    pct.textContent = percent + " %";
  }
  function fail(message) {
    status.textContent = message;
    status.className = "notice error";
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) return; // the browser's own "required" message speaks
    event.preventDefault();
    var file = input.files[0];
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/ui/uploads/csv");
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable && e.total > 0) show(Math.floor((e.loaded * 100) / e.total));
    };
    xhr.onload = function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status === 200 && answer.report) {
        show(100);
        status.className = "notice ok";
        status.textContent = "Uploaded. Opening the batch report…";
        window.location.assign(answer.report);
      } else {
        fail(answer.error || "The upload failed (status " + xhr.status + ").");
      }
    };
    xhr.onerror = function () { fail("The upload broke off: check the connection and try again."); };
    status.className = "";
    status.textContent = "Uploading " + file.name + "…";
    button.disabled = true;
    show(0);
    xhr.send(file);
  });
})();
