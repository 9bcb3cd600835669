/* 车主汇 SCRM admin: the import job page follows its job until it finishes (the page works without this). */
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-progress-url");
  var delay = 1000;
  var failures = 0;

  function field(name) { return box.querySelector("[data-field='" + name + "']"); }

  function show(state) {
    ["created", "updated", "unchanged", "rejected", "label"].forEach(function (name) {
      var el = field(name);
      if (el) { el.textContent = String(state[name]); }
    });
    field("percent").textContent = state.percent + "%";
    var bar = box.querySelector("[data-bar]");
    bar.className = "bar";
    bar.style.width = state.percent + "%";  // CSSOM, allowed by the page's CSP (inline style attributes are not)
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", String(state.percent));
    box.querySelector("[data-badge]").className = "badge " + state.badge;
    var rows = box.querySelector("[data-rows]");
    if (state.status !== "queued") {
      rows.textContent = state.finished ? rows.getAttribute("data-done-text").replace("%(total)s", state.total)
      : rows.getAttribute("data-running-text").replace("%(done)s", state.processed).replace("%(total)s", state.total);
    }
    var error = field("error");
    error.textContent = state.error;
    error.hidden = !state.error;
    var report = box.querySelector("[data-report]");
    if (state.report_url) { document.getElementById("report-link").href = state.report_url; }
    report.hidden = !state.report_url;
    box.setAttribute("data-status", state.status);
    showRow(state);
  }

  // The same job's row in the table below the box.
  function showRow(state) {
    var row = document.querySelector("#import-jobs tr[data-job='" + state.id + "']");
    if (!row) { return; }
    ["created", "updated", "unchanged", "rejected", "label"].forEach(function (name) {
      var cell = row.querySelector("[data-cell='" + name + "']");
      if (cell) { cell.textContent = String(state[name]); }
    });
    row.querySelector("[data-cell=label]").className = "badge " + state.badge;
    row.querySelector("[data-cell=total]").textContent = state.status === "done" ? String(state.total) : "\u2014";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (!state.finished) { window.setTimeout(poll, delay); }
      })
      .catch(function () {
        failures += 1;  // a restart or a network blip: keep trying, more slowly
        window.setTimeout(poll, Math.min(30000, delay * Math.pow(2, failures)));
      });
  }

  if (box.getAttribute("data-status") === "queued" || box.getAttribute("data-status") === "running") {
    window.setTimeout(poll, delay);
  }
}());
