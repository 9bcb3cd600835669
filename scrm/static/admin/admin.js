/* 车主汇 SCRM admin: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  function each(selector, fn, scope) {
    Array.prototype.forEach.call((scope || document).querySelectorAll(selector), fn);
  }

  // Filters that apply as soon as a choice is made.
  each("form[data-autosubmit] select", function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Ask before destructive POSTs.
  each("form[data-confirm]", function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // Keyword form: show only the fields of the chosen reply type.
  each("select[data-kind-select]", function (select) {
    var form = select.form;
    function sync() {
      each("fieldset[data-kind]", function (fs) {
        fs.classList.toggle("kind-hidden", fs.getAttribute("data-kind") !== select.value);
      }, form);
    }
    select.addEventListener("change", sync);
    sync();
  });

  // Byte counter for texts WeChat limits in UTF-8 bytes.
  each("textarea[data-bytes]", function (area) {
    var limit = parseInt(area.getAttribute("data-bytes"), 10);
    var unit = area.getAttribute("data-bytes-unit") || "bytes";
    var note = document.createElement("p");
    note.className = "help byte-count";
    area.insertAdjacentElement("afterend", note);
    function count() {
      var bytes = new TextEncoder().encode(area.value).length;
      note.textContent = bytes + " / " + limit + " " + unit;
      note.classList.toggle("field-error", bytes > limit);
    }
    area.addEventListener("input", count);
    count();
  });

  // Menu editor: mini program fields only for that type; empty sub-rows folded behind "add".
  each(".menu-row", function (row) {
    var type = row.querySelector("select[data-menu-type]");
    if (!type) { return; }
    var keyTypes = (row.getAttribute("data-key-types") || "").split(" ");
    var isTop = row.classList.contains("is-top");
    function sync() {
      var t = type.value;
      row.classList.toggle("show-mini", t === "miniprogram");
      row.classList.toggle("hide-key", keyTypes.indexOf(t) < 0 && !(t === "" && !isTop));
      row.classList.toggle("hide-url", t !== "view" && t !== "miniprogram" && !(t === "" && !isTop));
    }
    type.addEventListener("change", sync);
    sync();
  });
  each(".menu-subs", function (subs) {
    var add = subs.querySelector("[data-add-sub]");
    // A single button needs no sub-buttons, so every empty sub-row starts folded.
    each(".menu-row.is-sub.is-empty", function (row) { row.classList.add("collapsed"); }, subs);
    function refresh() {
      var left = subs.querySelectorAll(".menu-row.is-sub.collapsed").length;
      if (add) { add.hidden = left === 0; }
    }
    if (add) {
      add.addEventListener("click", function () {
        var next = subs.querySelector(".menu-row.is-sub.collapsed");
        if (next) {
          next.classList.remove("collapsed");
          var input = next.querySelector("input");
          if (input) { input.focus(); }
        }
        refresh();
      });
    }
    refresh();
  });

  // Close the narrow-screen menu after picking a page.
  var toggle = document.getElementById("nav-toggle");
  if (toggle) {
    each(".sidenav a", function (a) { a.addEventListener("click", function () { toggle.checked = false; }); });
  }
})();
