// The integrity page's progress: while a verification runs, its counts
// are polled once a second and shown; the page reloads when it ends.
// Without this script the page reloads itself (a meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var checked = document.getElementById("checked");
  var total = document.getElementById("total");
  var bar = document.getElementById("bar");
  function poll() {
    fetch("/console/integrity/progress", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (p) {
        if (!p.running) { window.location.replace("/console/integrity"); return; }
        checked.textContent = String(p.checked);
        if (total && p.total > 0) {
          total.textContent = String(p.total);
          var pct = Math.min(100, Math.floor(p.checked * 100 / p.total));
          bar.value = pct;
          bar.textContent = pct + "%";
        }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
