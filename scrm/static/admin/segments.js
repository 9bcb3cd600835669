/* 车主汇 SCRM admin: the segment builder (AND/OR groups of conditions), its live count and sample.
   The definition is kept in the server's own shape and written to the hidden #definition field on every
   change; the server checks everything again when counting and saving. */
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  var root = form || document.getElementById("segment-view");
  if (!root || !window.fetch) { return; }
  var W = JSON.parse(document.getElementById("segment-words").textContent);
  var csrf = root.querySelector("input[name=csrf_token]").value;
  var NO_VALUE = { empty: 1, not_empty: 1 };
  var DAYS = { within_last_days: 1, not_within_last_days: 1, within_next_days: 1 };
  var LISTS = { "in": 1, not_in: 1, has_any: 1, has_all: 1, has_none: 1 };
  var MAX_DEPTH = 3;
  var seq = 0;
  var sampleSeq = 0;   // a sample answers one definition: an edit drops it, shown or still loading
  var timer = null;

  function el(tag, attrs, kids) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (kids || []).forEach(function (kid) { if (kid) { node.appendChild(kid); } });
    return node;
  }

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}) })
      .then(function (resp) { return resp.json(); });
  }

  /* ---- the count panel ------------------------------------------------------------------- */
  var problemBox = document.getElementById("count-problem");
  var state = document.getElementById("count-state");

  function showCounts(d) {
    ["contacts", "customers", "followers", "reachable"].forEach(function (k) {
      document.getElementById("count-" + k).textContent = d.ok ? String(d[k]) : "\u2014";
    });
    problemBox.hidden = d.ok;
    problemBox.textContent = d.ok ? "" : d.problem;
    state.textContent = "";
    root.querySelectorAll(".seg-rule.seg-bad").forEach(function (r) { r.classList.remove("seg-bad"); });
    if (!d.ok && d.field) {
      root.querySelectorAll(".seg-rule[data-field='" + d.field + "']").forEach(function (r) { r.classList.add("seg-bad"); });
    }
  }

  function body() {
    if (!form) { return {}; }
    var dealer = document.getElementById("dealer_id");
    return { definition: model, dealer_id: dealer ? dealer.value : "", segment_id: form.getAttribute("data-segment-id") };
  }

  function count() {
    var mine = ++seq;
    state.textContent = W.counting;
    post(root.getAttribute("data-count-url"), body()).then(function (d) {
      if (mine === seq) { showCounts(d); }
    }).catch(function () { if (mine === seq) { state.textContent = W.failed; } });
  }

  function sample() {
    var panel = document.getElementById("sample-panel");
    var tbody = panel.querySelector("tbody");
    var mine = ++sampleSeq;
    post(root.getAttribute("data-sample-url"), body()).then(function (d) {
      if (mine !== sampleSeq) { return; }
      tbody.textContent = "";
      panel.hidden = false;
      if (!d.ok) { showCounts(d); panel.hidden = true; return; }
      if (!d.rows.length) { tbody.appendChild(el("tr", {}, [el("td", { colspan: "6", "class": "muted", text: W.no_rows })])); }
      d.rows.forEach(function (r) {
        var name = r.url ? el("a", { href: r.url, text: r.name || W.no_name }) : el("span", { "class": "muted", text: r.name || W.follower_only });
        var wx = [r.bound ? W.bound : "", r.subscribed ? W.subscribed : ""].filter(Boolean).join(" · ") || "\u2014";
        tbody.appendChild(el("tr", {}, [el("td", {}, [name]), el("td", { "class": "nowrap", text: r.phone || "\u2014" }),
          el("td", { text: r.city || "\u2014" }), el("td", { text: r.stage || "\u2014" }), el("td", { text: r.model || "\u2014" }),
          el("td", { "class": "nowrap", text: wx })]));
      });
    }).catch(function () { if (mine === sampleSeq) { state.textContent = W.failed; } });
  }

  document.getElementById("show-sample").addEventListener("click", sample);
  if (!form) {
    document.getElementById("count-now").addEventListener("click", count);
    return;
  }

  /* ---- the builder ----------------------------------------------------------------------- */
  var C = JSON.parse(document.getElementById("segment-choices").textContent);
  var FIELDS = {};
  C.fields.forEach(function (f) { FIELDS[f.key] = f; });
  var hidden = document.getElementById("definition");
  var builder = document.getElementById("builder");
  var model;
  try { model = JSON.parse(hidden.value); } catch (e) { model = null; }
  if (!model || !Array.isArray(model.rules)) { model = { match: "all", rules: [] }; }

  [["seg-dl-tags", C.tags], ["seg-dl-models", C.models], ["seg-dl-cities", C.cities]].forEach(function (pair) {
    builder.parentNode.appendChild(el("datalist", { id: pair[0] }, pair[1].map(function (v) { return el("option", { value: v }); })));
  });
  var DATALIST = { tags: "seg-dl-tags", model: "seg-dl-models", city: "seg-dl-cities" };

  function changed() {
    hidden.value = JSON.stringify(model);
    sampleSeq++;
    document.getElementById("sample-panel").hidden = true;
    window.clearTimeout(timer);
    timer = window.setTimeout(count, 400);
  }

  function structural() { render(); changed(); }

  function defaultValue(f, op) {
    if (NO_VALUE[op]) { return undefined; }
    if (f.kind === "bool") { return true; }
    if (f.kind === "count") { return "1"; }
    if (op === "between") { return ["", ""]; }
    if (DAYS[op]) { return "30"; }
    if (LISTS[op]) { return []; }
    return "";
  }

  function shape(op, kind) {
    if (NO_VALUE[op]) { return "none"; }
    if (kind === "bool" || kind === "count") { return kind; }
    if (op === "between") { return "pair"; }
    if (DAYS[op]) { return "days"; }
    return LISTS[op] ? "list" : "one";
  }

  function newRule() {
    var f = FIELDS.city || C.fields[0];
    return { field: f.key, op: f.ops[0].key, value: defaultValue(f, f.ops[0].key) };
  }

  function setOp(rule, f, op) {
    var keep = shape(op, f.kind) === shape(rule.op, f.kind) && rule.field === f.key;
    var value = keep ? rule.value : defaultValue(f, op);
    rule.field = f.key;
    rule.op = op;
    if (value === undefined) { delete rule.value; } else { rule.value = value; }
    if (f.kind !== "count") { delete rule.days; }
  }

  function select(cls, label, options, current, onChange) {
    var s = el("select", { "class": cls, "aria-label": label }, options.map(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(current)) { opt.selected = true; }
      return opt;
    }));
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(type, value, onInput, attrs) {
    var i = el("input", Object.assign({ type: type, "class": "seg-input", "aria-label": W.value }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () { onInput(i.value); changed(); });
    return i;
  }

  function chips(rule, f) {
    var box = el("span", { "class": "seg-chips" });
    var entry = el("input", { type: "text", "class": "seg-chip-input", placeholder: W.add_value, "aria-label": f.label });
    if (DATALIST[f.key]) { entry.setAttribute("list", DATALIST[f.key]); }
    function draw() {
      box.querySelectorAll(".seg-chip").forEach(function (c) { c.remove(); });
      rule.value.forEach(function (v, i) {
        var x = el("button", { type: "button", "class": "seg-chip-x", "aria-label": W.remove + " " + v, text: "\u00d7" });
        x.addEventListener("click", function () { rule.value.splice(i, 1); draw(); changed(); });
        box.insertBefore(el("span", { "class": "seg-chip" }, [el("span", { text: v }), x]), entry);
      });
    }
    function take() {
      entry.value.split(/[,，]/).map(function (v) { return v.trim(); }).filter(Boolean).forEach(function (v) {
        if (rule.value.indexOf(v) < 0) { rule.value.push(v); }
      });
      entry.value = "";
      draw();
      changed();
    }
    entry.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === ",") { ev.preventDefault(); take(); }
      else if (ev.key === "Backspace" && !entry.value && rule.value.length) { rule.value.pop(); draw(); changed(); }
    });
    entry.addEventListener("change", function () { if (entry.value.trim()) { take(); } });
    box.appendChild(entry);
    draw();
    return box;
  }

  function checks(rule, f) {
    var box = el("span", { "class": "seg-checks" });
    (C.values[f.choices] || []).forEach(function (o) {
      var c = el("input", { type: "checkbox", value: o.value });
      c.checked = rule.value.indexOf(o.value) >= 0;
      c.addEventListener("change", function () {
        rule.value = rule.value.filter(function (v) { return v !== o.value; });
        if (c.checked) { rule.value.push(o.value); }
        changed();
      });
      box.appendChild(el("label", { "class": "seg-check" }, [c, el("span", { text: o.label })]));
    });
    return box;
  }

  function unit(text) { return text ? el("span", { "class": "seg-unit", text: text }) : null; }

  function valueEditor(rule, f) {
    var kind = shape(rule.op, f.kind);
    var type = f.kind === "date" ? "date" : (f.kind === "number" ? "number" : "text");
    var set = function (v) { rule.value = v; };
    if (kind === "none") { return el("span", { "class": "seg-value" }); }
    if (kind === "bool") {
      return select("seg-value-select", f.label, [["true", W.yes], ["false", W.no]], String(rule.value),
        function (v) { rule.value = v === "true"; changed(); });
    }
    if (kind === "count") {
      return el("span", { "class": "seg-value" }, [input("number", rule.value, set, { min: "0" }),
        el("span", { "class": "seg-unit", text: W.in_last }),
        input("number", rule.days, function (v) { if (v) { rule.days = v; } else { delete rule.days; } },
          { min: "1", placeholder: W.optional, "class": "seg-input seg-days", "aria-label": W.days }),
        unit(W.days)]);
    }
    if (kind === "pair") {
      return el("span", { "class": "seg-value" }, [input(type, rule.value[0], function (v) { rule.value[0] = v; }),
        el("span", { "class": "seg-unit", text: W.and }), input(type, rule.value[1], function (v) { rule.value[1] = v; }), unit(f.unit)]);
    }
    if (kind === "days") { return el("span", { "class": "seg-value" }, [input("number", rule.value, set, { min: "0" }), unit(W.days)]); }
    if (kind === "list") { return f.kind === "choice" ? checks(rule, f) : chips(rule, f); }
    var one = input(type, rule.value, set);
    if (type === "text" && DATALIST[f.key]) { one.setAttribute("list", DATALIST[f.key]); }
    return el("span", { "class": "seg-value" }, [one, unit(f.unit)]);
  }

  function ruleRow(rule, parent, index) {
    var f = FIELDS[rule.field] || C.fields[0];
    var remove = el("button", { type: "button", "class": "btn btn-small btn-quiet seg-remove", title: W.remove, "aria-label": W.remove, text: "\u00d7" });
    remove.addEventListener("click", function () { parent.rules.splice(index, 1); structural(); });
    return el("div", { "class": "seg-rule", "data-field": f.key }, [
      select("seg-field", W.field, C.fields.map(function (x) { return [x.key, x.label]; }), f.key, function (key) {
        var nf = FIELDS[key];
        setOp(rule, nf, nf.ops[0].key);
        structural();
      }),
      select("seg-op", W.op, f.ops.map(function (o) { return [o.key, o.label]; }), rule.op, function (op) {
        setOp(rule, f, op);
        structural();
      }),
      valueEditor(rule, f), remove]);
  }

  function group(node, depth, parent, index) {
    var head = el("div", { "class": "seg-group-head" }, [el("span", { text: W.match }),
      select("seg-match", W.match, [["all", W.all], ["any", W.any]], node.match, function (v) { node.match = v; structural(); }),
      el("span", { text: W.of })]);
    if (parent) {
      var drop = el("button", { type: "button", "class": "btn btn-small btn-quiet seg-remove-group", text: W.remove });
      drop.addEventListener("click", function () { parent.rules.splice(index, 1); structural(); });
      head.appendChild(drop);
    }
    var list = el("div", { "class": "seg-rules" }, node.rules.map(function (r, i) {
      return r.rules ? group(r, depth + 1, node, i) : ruleRow(r, node, i);
    }));
    if (!node.rules.length) { list.appendChild(el("p", { "class": "muted small seg-empty", text: W.empty_group })); }
    var addRule = el("button", { type: "button", "class": "btn btn-small seg-add-rule", text: "+ " + W.add_rule });
    addRule.addEventListener("click", function () { node.rules.push(newRule()); structural(); });
    var actions = el("div", { "class": "seg-group-actions" }, [addRule]);
    if (depth < MAX_DEPTH) {
      var addGroup = el("button", { type: "button", "class": "btn btn-small btn-quiet seg-add-group", text: "+ " + W.add_group });
      addGroup.addEventListener("click", function () { node.rules.push({ match: "any", rules: [newRule()] }); structural(); });
      actions.appendChild(addGroup);
    }
    return el("div", { "class": "seg-group seg-depth-" + depth + " seg-match-" + node.match }, [head, list, actions]);
  }

  function render() {
    builder.textContent = "";
    builder.appendChild(group(model, 1, null, 0));
  }

  var dealer = document.getElementById("dealer_id");
  if (dealer) { dealer.addEventListener("change", count); }
  form.addEventListener("submit", function () { hidden.value = JSON.stringify(model); });
  render();
  hidden.value = JSON.stringify(model);
  count();
}());
