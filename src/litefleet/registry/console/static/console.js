// litefleet console: keep the page live without a framework. Every few seconds the page is
// fetched again and <main> is swapped, unless the operator is typing in a form.
(function () {
  "use strict";
  var main = document.getElementById("live");
  var every = main ? Number(main.dataset.refresh || 0) : 0;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA") && a.value !== "";
  }
  function refresh() {
    if (document.hidden || busy()) return;
    var url = new URL(location.href);
    url.searchParams.delete("done");
    url.searchParams.delete("error");
    fetch(url, { credentials: "same-origin", headers: { "x-requested-with": "console" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html || busy()) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { main.innerHTML = fresh.innerHTML; main.dataset.updated = String(Date.now()); }
      })
      .catch(function () {});
  }
  if (every > 0) setInterval(refresh, every * 1000);
  document.addEventListener("submit", function (ev) {
    var b = ev.submitter;
    if (b && b.value === "abort" && !confirm("Abort this release? Devices on it go back.")) ev.preventDefault();
  });
})();
