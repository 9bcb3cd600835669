/* 车主汇 SCRM admin: the message editor (templates/admin/compose/_editor.html).
   Shows the parts the channel needs, inserts fields at the cursor, counts against WeChat's limits, fills the
   template's field rows, and asks the server for a preview and a test send. The form works without it. */
(function () {
  "use strict";
  if (window.scrmCompose) { return; }   // the macro includes this file once per editor on the page
  window.scrmCompose = true;

  var enc = window.TextEncoder ? new TextEncoder() : null;

  function bytes(text) { return enc ? enc.encode(text).length : unescape(encodeURIComponent(text)).length; }
  function chars(text) { return Array.from ? Array.from(text).length : text.length; }
  function fill(tpl, n, max) { return tpl.replace("{n}", String(n)).replace("{max}", String(max)); }

  function Editor(box) {
    this.box = box;
    this.prefix = box.getAttribute("data-compose-prefix") || "";
    this.limits = JSON.parse(box.getAttribute("data-limits") || "{}");
    this.words = JSON.parse(box.getAttribute("data-words") || "{}");
    this.last = this.field("text");
    this.timer = null;
    this.seq = 0;
    this.wire();
  }

  Editor.prototype.field = function (name) {
    return this.box.querySelector("[name='" + this.prefix + name + "']");
  };

  Editor.prototype.kind = function () {
    var on = this.box.querySelector("input[name='" + this.prefix + "kind']:checked");
    return on ? on.value : "text";
  };

  Editor.prototype.setChannel = function (channel) {
    if (["auto", "custom", "template", "mass"].indexOf(channel) < 0) { return; }
    this.box.setAttribute("data-channel", channel);
    this.schedule();
  };

  Editor.prototype.limitFor = function (input) {
    var kind = input.getAttribute("data-count");
    if (kind !== "field") { return Number(input.getAttribute("data-limit")); }
    var key = input.closest("tr").querySelector("input[name$='tf_key']").value.trim();
    var type = (key.match(/^([a-z_]+?)\d*$/) || [])[1] || "";
    return this.limits.template[type] || this.limits.template_default;
  };

  // Counts the text as written; a text with fields is counted as rendered, when the preview comes back.
  Editor.prototype.count = function (input, rendered) {
    var out = input.parentNode.querySelector(".compose-count");
    if (!out) { return; }
    var text = rendered === undefined ? input.value : rendered;
    if (rendered === undefined && text.indexOf("{") >= 0) { return; }
    var max = this.limitFor(input);
    var asBytes = input.getAttribute("data-count") === "bytes";
    var n = asBytes ? bytes(text) : chars(text);
    out.textContent = input.value || !asBytes ? fill(this.words[asBytes ? "bytes" : "chars"], n, max) : "";
    out.classList.toggle("over", n > max);
  };

  Editor.prototype.countRendered = function (part) {
    var self = this;
    if (part.kind === "text") { this.count(this.field("text"), part.content); }
    if (part.kind === "news") {
      this.count(this.field("news_title"), part.title);
      this.count(this.field("news_description"), part.description);
    }
    if (part.kind === "template") {
      part.fields.forEach(function (f) {
        Array.prototype.forEach.call(self.box.querySelectorAll("input[name$='tf_key']"), function (key) {
          if (key.value.trim() === f.key) { self.count(key.closest("tr").querySelector("[data-count]"), f.value); }
        });
      });
    }
  };

  Editor.prototype.countAll = function () {
    var self = this;
    Array.prototype.forEach.call(this.box.querySelectorAll("[data-count]"), function (el) { self.count(el); });
  };

  Editor.prototype.insert = function (snippet) {
    var el = this.last || this.field("text");
    var start = el.selectionStart === null || el.selectionStart === undefined ? el.value.length : el.selectionStart;
    var end = el.selectionEnd === null || el.selectionEnd === undefined ? start : el.selectionEnd;
    el.value = el.value.slice(0, start) + snippet + el.value.slice(end);
    el.focus();
    el.selectionStart = el.selectionEnd = start + snippet.length;
    el.dispatchEvent(new Event("input", { bubbles: true }));
  };

  Editor.prototype.chooseTemplate = function (select) {
    var opt = select.options[select.selectedIndex];
    var keywords = (opt && opt.getAttribute("data-keywords") || "").split(",").filter(Boolean);
    if (!keywords.length) { return; }
    var body = this.box.querySelector(".compose-fields tbody");
    var rows = body.querySelectorAll("tr");
    var old = {};
    Array.prototype.forEach.call(rows, function (tr) {
      var k = tr.querySelector("input[name$='tf_key']").value.trim();
      if (k) { old[k] = tr.querySelector("input[name$='tf_value']").value; }
    });
    while (body.querySelectorAll("tr").length < keywords.length) { body.appendChild(rows[0].cloneNode(true)); }
    var self = this;
    Array.prototype.forEach.call(body.querySelectorAll("tr"), function (tr, i) {
      var key = tr.querySelector("input[name$='tf_key']");
      var value = tr.querySelector("input[name$='tf_value']");
      key.value = keywords[i] || "";
      value.value = keywords[i] ? (old[keywords[i]] || "") : "";
      key.readOnly = Boolean(keywords[i]);
      tr.hidden = !keywords[i];
      self.count(value);
    });
  };

  Editor.prototype.formData = function () {
    var data = new FormData();
    var p = this.prefix;
    Array.prototype.forEach.call(this.box.querySelectorAll("[name]"), function (el) {
      if (el.name.indexOf(p) !== 0 || ((el.type === "radio" || el.type === "checkbox") && !el.checked)) { return; }
      data.append(el.name, el.value);
    });
    data.append("compose_prefix", p);
    data.append("compose_channel", this.box.getAttribute("data-channel") || "auto");
    data.append("compose_customer", this.box.querySelector(".compose-customer").value);
    return data;
  };

  Editor.prototype.post = function (url) {
    return fetch(url, { method: "POST", body: this.formData(), credentials: "same-origin",
                        headers: { "X-CSRFToken": this.box.getAttribute("data-csrf"), "Accept": "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) { return body; }, function () { return { ok: false }; });
      });
  };

  Editor.prototype.status = function (text, bad) {
    var el = this.box.querySelector(".compose-status");
    el.textContent = text || "";
    el.classList.toggle("bad", Boolean(bad));
  };

  // The test-send result has its own line: a preview that lands after it must not hide it.
  Editor.prototype.sent = function (text, bad) {
    var el = this.box.querySelector(".compose-sent");
    el.textContent = text || "";
    el.classList.toggle("bad", Boolean(bad));
    return el;
  };

  Editor.prototype.markError = function (body) {
    var top = this.box.querySelector(".compose-error");
    Array.prototype.forEach.call(this.box.querySelectorAll(".js-error"), function (el) {
      el.classList.remove("has-error", "js-error");
    });
    top.hidden = !body || body.ok !== false || !body.error;
    top.textContent = body && body.error ? body.error : "";
    if (body && body.field) {
      var el = this.box.querySelector("[name='" + body.field + "']");
      var holder = el && (el.closest(".field") || el.closest("table"));
      if (holder) { holder.classList.add("has-error", "js-error"); }
    }
  };

  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined && text !== null) { el.textContent = text; }
    return el;
  }

  Editor.prototype.showPart = function (screen, part) {
    if (part.label) { screen.appendChild(node("div", "compose-via", part.label)); }
    if (part.kind === "text") {
      screen.appendChild(node("div", "bubble compose-bubble", part.content));
    } else if (part.kind === "news") {
      var card = node("div", "news-card compose-news-card");
      card.appendChild(node("div", "news-title", part.title));
      var row = node("div", "news-body");
      row.appendChild(node("div", "news-desc", part.description));
      row.appendChild(node("div", "news-pic"));
      card.appendChild(row);
      card.appendChild(node("div", "news-link", part.url));
      screen.appendChild(card);
    } else {
      var tcard = node("div", "compose-tcard");
      tcard.appendChild(node("div", "compose-tcard-title", part.title));
      var list = node("dl", "compose-tcard-fields");
      part.fields.forEach(function (f) {
        list.appendChild(node("dt", "", f.key));
        list.appendChild(node("dd", "", f.value));
      });
      tcard.appendChild(list);
      if (part.url) { tcard.appendChild(node("div", "compose-tcard-link", this.words.details)); }
      screen.appendChild(tcard);
    }
  };

  Editor.prototype.show = function (body) {
    var screen = this.box.querySelector(".compose-screen");
    var problems = this.box.querySelector(".compose-problems");
    screen.textContent = "";
    problems.textContent = "";
    this.markError(body);
    if (!body || !body.ok) {
      this.status(body && body.error ? "" : this.words.failed, true);
      return;
    }
    this.status(body.customer, false);
    var self = this;
    body.parts.forEach(function (part) { self.showPart(screen, part); self.countRendered(part); });
    body.problems.forEach(function (text) { problems.appendChild(node("li", "compose-problem", text)); });
    if (!body.problems.length) { problems.appendChild(node("li", "compose-fine", this.words.ok)); }
  };

  Editor.prototype.preview = function () {
    var seq = ++this.seq;
    var self = this;
    this.status(this.words.loading, false);
    this.post(this.box.getAttribute("data-preview-url")).then(function (body) {
      if (seq === self.seq) { self.show(body); }
    }, function () { self.status(self.words.failed, true); });
  };

  Editor.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.preview(); }, 500);
  };

  Editor.prototype.testSend = function (button) {
    var self = this;
    button.disabled = true;
    this.sent(this.words.sending, false);
    this.post(this.box.getAttribute("data-test-url")).then(function (body) {
      button.disabled = false;
      self.markError(body.ok ? body : { ok: true });
      var line = self.sent(body.ok ? body.message : body.error || self.words.failed, !body.ok);
      if (!body.ok && body.link_url) {
        var a = node("a", "compose-link", body.link_label);
        a.href = body.link_url;
        line.appendChild(document.createTextNode(" "));
        line.appendChild(a);
      }
    }, function () { button.disabled = false; self.sent(self.words.failed, true); });
  };

  Editor.prototype.search = function (q) {
    var select = this.box.querySelector(".compose-customer");
    var self = this;
    var url = this.box.getAttribute("data-customers-url") + "?q=" + encodeURIComponent(q);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.json(); })
      .then(function (body) {
        while (select.options.length > 1) { select.remove(1); }
        body.customers.forEach(function (c) { select.appendChild(new Option(c.label, String(c.id))); });
        if (body.customers.length) {
          select.selectedIndex = 1;
        } else {
          self.status(self.words.no_match, false);
        }
        self.preview();
      });
  };

  Editor.prototype.wire = function () {
    var self = this;
    var box = this.box;
    box.querySelector(".compose-side").hidden = false;
    box.querySelector(".compose-chips").hidden = false;
    box.addEventListener("focusin", function (e) {
      var t = e.target;
      if (t.matches("textarea, input[name$='text'], input[name*='news_'], input[name$='tf_value'], input[name$='template_url']")) {
        self.last = t;
      }
    });
    box.addEventListener("click", function (e) {
      var chip = e.target.closest(".chip");
      if (chip) { self.insert(chip.getAttribute("data-insert")); }
      if (e.target.closest(".compose-preview-btn")) { self.preview(); }
      var test = e.target.closest(".compose-test-btn");
      if (test) { self.testSend(test); }
    });
    box.addEventListener("input", function (e) {
      if (e.target.hasAttribute("data-count")) { self.count(e.target); }
      if (e.target.matches("input[name$='tf_key']")) { self.count(e.target.closest("tr").querySelector("[data-count]")); }
      if (!e.target.matches(".compose-search")) { self.schedule(); }
    });
    box.addEventListener("change", function (e) {
      if (e.target.name === self.prefix + "kind") { box.setAttribute("data-kind", self.kind()); self.schedule(); }
      if (e.target.matches(".compose-template-select")) { self.chooseTemplate(e.target); self.schedule(); }
      if (e.target.matches(".compose-customer")) { self.preview(); }
    });
    var search = box.querySelector(".compose-search");
    var searchTimer = null;
    search.addEventListener("input", function () {
      window.clearTimeout(searchTimer);
      searchTimer = window.setTimeout(function () { if (search.value.trim()) { self.search(search.value.trim()); } }, 350);
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); self.search(search.value.trim()); }
    });
    var select = box.querySelector(".compose-template-select");
    if (select && select.value) {
      var keys = box.querySelectorAll("input[name$='tf_key']");
      if (!Array.prototype.some.call(keys, function (k) { return k.value.trim(); })) { self.chooseTemplate(select); }
    }
    this.countAll();
    if (this.hasContent()) { this.preview(); }   // an empty editor is not an error before anything is written
  };

  Editor.prototype.hasContent = function () {
    var fields = this.box.querySelectorAll("textarea[name$='text'], input[name$='news_title'], select[name$='template_id'], input[name$='template_id']");
    return Array.prototype.some.call(fields, function (f) { return f.value.trim() !== ""; });
  };

  var editors = [];
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".compose[data-compose-prefix]"), function (box) {
      if (!box.scrmEditor) { box.scrmEditor = new Editor(box); editors.push(box.scrmEditor); }
    });
  }
  // A page with a channel choice tells every editor: a CustomEvent, or its own inputs named "channel".
  document.addEventListener("compose:channel", function (e) {
    editors.forEach(function (ed) { ed.setChannel(e.detail && e.detail.channel); });
  });
  document.addEventListener("change", function (e) {
    if (e.target.name === "channel" && !e.target.closest(".compose")) {
      editors.forEach(function (ed) {
        if (!ed.box.closest("form") || ed.box.closest("form") === e.target.form) {
          ed.setChannel(e.target.value);
        }
      });
    }
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
