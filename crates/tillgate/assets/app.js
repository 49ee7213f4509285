// tillgate dashboard: live fleet rows over server-sent events, progress on long forms, printing.
// Pages work without this script; it only keeps them current.
(function () {
  "use strict";
  function recount() {
    var rows = document.querySelectorAll("table.fleet tbody tr");
    var counts = { online: 0, busy: 0, offline: 0 };
    rows.forEach(function (r) { var s = r.getAttribute("data-status"); if (s in counts) counts[s]++; });
    Object.keys(counts).forEach(function (k) {
      var el = document.getElementById("count-" + k);
      if (el) el.textContent = counts[k];
    });
  }
  function live() {
    var host = document.getElementById("fleet-live");
    if (!host || !window.EventSource) return;
    var badge = document.getElementById("live");
    var es = new EventSource(host.getAttribute("data-stream"));
    es.onopen = function () { if (badge) badge.classList.add("on"); document.body.setAttribute("data-live", "open"); };
    es.onerror = function () { if (badge) badge.classList.remove("on"); };
    es.addEventListener("reader", function (e) {
      var msg = JSON.parse(e.data);
      var row = document.getElementById("row-" + msg.id);
      if (!row) return;
      var tpl = document.createElement("template");
      tpl.innerHTML = msg.html.trim();
      row.replaceWith(tpl.content.firstChild);
      recount();
    });
  }
  function forms() {
    document.querySelectorAll("form[data-progress]").forEach(function (f) {
      f.addEventListener("submit", function () {
        var p = f.querySelector(".progress");
        if (p) p.textContent = f.getAttribute("data-progress");
        var b = f.querySelector("button[type=submit]");
        if (b) b.disabled = true;
      });
    });
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { live(); forms(); });
})();
