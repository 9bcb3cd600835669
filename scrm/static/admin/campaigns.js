/* Campaign pages: the form (channel, A/B variants, schedule) and the live progress of a launched campaign. */
(function () {
  "use strict";

  function all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function checked(name) { var el = document.querySelector("input[name='" + name + "']:checked"); return el ? el.value : ""; }

  function setupForm(form) {
    var count = document.getElementById("variant_count");
    var addBtn = document.getElementById("add-variant");
    var removeBtn = document.getElementById("remove-variant");
    var variants = all(".camp-variant", form);
    var keys = ["A", "B", "C", "D"];

    function shown() { return variants.filter(function (v) { return !v.hidden; }).length; }

    function spread(n) {
      var each = Math.floor(100 / n), rest = 100 - each * n;
      variants.forEach(function (v, i) {
        var w = v.querySelector("input[name$='_weight']");
        if (w && i < n) { w.value = String(each + (i < rest ? 1 : 0)); }
      });
    }

    function refresh() {
      var n = shown();
      var mass = checked("channel") === "mass";
      count.value = String(n);
      variants.forEach(function (v) { var w = v.querySelector(".camp-weight"); if (w) { w.hidden = n < 2; } });
      addBtn.hidden = n >= variants.length || mass;
      if (!addBtn.hidden) { addBtn.textContent = addBtn.getAttribute("data-label").replace("%s", keys[n]); }
      removeBtn.hidden = n < 2;
      var holdout = document.getElementById("holdout_pct");
      if (holdout) { holdout.closest(".field").hidden = mass; if (mass) { holdout.value = "0"; } }
    }

    addBtn.setAttribute("data-label", addBtn.getAttribute("data-template") || addBtn.textContent + " %s");
    addBtn.addEventListener("click", function () {
      var next = variants.filter(function (v) { return v.hidden; })[0];
      if (!next) { return; }
      next.hidden = false;
      spread(shown());
      refresh();
      var ta = next.querySelector("textarea");
      if (ta) { ta.focus(); }
    });
    removeBtn.addEventListener("click", function () {
      var open = variants.filter(function (v) { return !v.hidden; });
      if (open.length < 2) { return; }
      open[open.length - 1].hidden = true;
      spread(open.length - 1);
      refresh();
    });

    function channel() {
      var value = checked("channel") || "auto";
      all(".compose", form).forEach(function (c) { c.setAttribute("data-channel", value); });
      document.dispatchEvent(new CustomEvent("compose:channel", { detail: { channel: value } }));
      if (value === "mass") {
        variants.forEach(function (v, i) { if (i > 0) { v.hidden = true; } });
        spread(1);
      }
      refresh();
    }
    all("input[name='channel']", form).forEach(function (r) { r.addEventListener("change", channel); });

    function when() {
      var value = checked("schedule") || "now";
      var every = (document.getElementById("every") || {}).value || "week";
      all(".camp-when", form).forEach(function (el) {
        el.hidden = (el.getAttribute("data-when") || "").split(" ").indexOf(value) < 0;
      });
      all(".camp-every", form).forEach(function (el) { el.hidden = el.getAttribute("data-every") !== every; });
    }
    all("input[name='schedule']", form).forEach(function (r) { r.addEventListener("change", when); });
    var everySel = document.getElementById("every");
    if (everySel) { everySel.addEventListener("change", when); }

    refresh();
    when();
    var value = checked("channel") || "auto";
    document.dispatchEvent(new CustomEvent("compose:channel", { detail: { channel: value } }));
    var err = form.querySelector(".has-error, .field-error");
    if (err && err.scrollIntoView) { err.scrollIntoView({ block: "center" }); }
  }

  var FINAL = ["done", "cancelled"];

  function setupProgress(box) {
    var url = box.getAttribute("data-url");
    var bar = document.querySelector("#progress-bar > span");
    var timer = null;

    function paint(p) {
      var pct = Math.max(0, Math.min(100, Math.round(p.percent || 0)));
      if (bar) { bar.style.width = pct + "%"; bar.parentNode.setAttribute("aria-valuenow", String(pct)); }
      document.getElementById("progress-percent").textContent = pct + "%";
      document.getElementById("progress-done").textContent = String(p.done || 0);
      document.getElementById("progress-total").textContent = String(p.total || 0);
      all("#progress-counts li").forEach(function (li) {
        var n = (p.by_status || {})[li.getAttribute("data-key")] || 0;
        li.querySelector("strong").textContent = String(n);
      });
      var notice = document.getElementById("quota-notice");
      if (notice) {
        notice.hidden = !p.quota_paused_until;
        document.getElementById("quota-until").textContent = p.quota_paused_until || "";
      }
      var badge = document.getElementById("campaign-status");
      if (badge && p.status && p.status !== badge.getAttribute("data-status")) {
        // The status changed (done, paused by the quota...): reload for the right buttons and results.
        stop();
        window.location.reload();
      }
    }

    function stop() { if (timer) { window.clearInterval(timer); timer = null; } }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (p) {
          paint(p);
          if (FINAL.indexOf(p.status) >= 0) { stop(); }
        })
        .catch(function () { stop(); });
    }

    if (FINAL.indexOf(box.getAttribute("data-status")) < 0) {
      timer = window.setInterval(poll, 2000);
      poll();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("campaign-form");
    if (form) { setupForm(form); }
    var box = document.getElementById("progress");
    if (box) { setupProgress(box); }
  });
})();
