/* The phone simulator: talks to /sandbox/phone/api/ and draws a WeChat-like chat. No libraries. */
(function () {
  "use strict";
  var root = document.getElementById("sbx");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("sbx-i18n").textContent);
  var API = root.dataset.api, ACCOUNT = root.dataset.account, NAME = root.dataset.name, QR = root.dataset.qr;
  var KEY = "sbx:person:" + ACCOUNT;
  var $ = function (id) { return document.getElementById(id); };
  var chat = $("phone-chat");
  var st = { openid: localStorage.getItem(KEY) || "", lastId: 0, lastTime: 0, menu: null, person: null, timer: 0, mode: "" };

  function fmt(s, p) {
    return String(s).replace(/%\((\w+)\)s/g, function (_, k) { return p && p[k] != null ? p[k] : ""; });
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text != null) { n.textContent = text; }
    return n;
  }
  function showError(msg) { var e = $("sbx-error"); e.textContent = msg; e.hidden = !msg; }

  function call(method, path, body) {
    var opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(API + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { throw new Error(T["err_" + (data.error || "unknown")] || T.err_unknown); }
        return data;
      });
    });
  }

  /* ---- chat rendering ---- */
  function linkified(text) {
    // WeChat text messages may carry <a href="...">label</a>; everything else is plain text.
    var frag = document.createDocumentFragment(), re = /<a\s+href\s*=\s*(["'])(.*?)\1[^>]*>([\s\S]*?)<\/a>/gi, at = 0, m;
    while ((m = re.exec(text)) !== null) {
      frag.appendChild(document.createTextNode(text.slice(at, m.index)));
      var href = m[2].replace(/&amp;/g, "&");
      if (/^(https?:\/\/|\/)/i.test(href)) {
        var a = el("a", "", m[3]); a.href = href; a.dataset.open = href; frag.appendChild(a);
      } else { frag.appendChild(document.createTextNode(m[3])); }
      at = re.lastIndex;
    }
    frag.appendChild(document.createTextNode(text.slice(at)));
    return frag;
  }
  function row(mine, content, tag) {
    var r = el("div", "msg" + (mine ? " me" : "")), av = el("div", "avatar", mine ? "我" : NAME.charAt(0));
    var box = el("div");
    if (tag) { box.appendChild(el("div", "tag", tag)); }
    box.appendChild(content);
    r.appendChild(av); r.appendChild(box);
    return r;
  }
  function bubble(text) { var b = el("div", "bubble"); b.appendChild(linkified(text)); return b; }
  function notice(text, bad) { return el("div", "notice" + (bad ? " bad" : ""), text); }
  function newsCard(a) {
    var c = el("div", "card");
    var pic = el("div", "card-pic", a.title || "");
    c.appendChild(pic);
    if (a.description) { c.appendChild(el("div", "card-desc", a.description)); }
    if (a.url) { c.dataset.open = a.url; }
    return c;
  }
  function templateCard(b, when) {
    var c = el("div", "card");
    c.appendChild(el("div", "card-title", b.title));
    c.appendChild(el("div", "card-sub", when));
    var rows = el("div", "card-rows");
    (b.fields || []).forEach(function (f) {
      var r = el("div", "card-row"); r.appendChild(el("span", "k", f.label)); r.appendChild(el("span", "v", f.value));
      rows.appendChild(r);
    });
    c.appendChild(rows);
    if (b.url) {
      var foot = el("div", "card-foot"); foot.appendChild(el("span", "", T.details)); foot.appendChild(el("span", "", "›"));
      c.appendChild(foot); c.dataset.open = b.url;
    }
    return c;
  }
  function menuMessage(b) {
    var box = el("div", "bubble");
    if (b.head_content) { box.appendChild(el("div", "", b.head_content)); }
    (b.list || []).forEach(function (item) {
      var a = el("a", "", item.content); a.href = "#"; a.dataset.say = item.content;
      box.appendChild(el("div")).appendChild(a);
    });
    if (b.tail_content) { box.appendChild(el("div", "", b.tail_content)); }
    return box;
  }
  function clock(t) { var d = new Date(t * 1000); return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

  function render(e) {
    var b = e.body || {}, tag = e.via === "mass" ? T.mass : (e.via === "template" ? T.template : "");
    if (e.via === "system") {
      if (b.code === "followed") { return notice(b.scene ? fmt(T.followed_scene, { name: NAME, scene: b.scene }) : fmt(T.followed, { name: NAME })); }
      if (b.code === "scanned") { return notice(fmt(T.scanned, { scene: b.scene })); }
      if (b.code === "unfollowed") { return notice(fmt(T.unfollowed, { name: NAME })); }
      var n = notice(T.unavailable, true); n.title = (b.error || "") + " " + (b.detail || ""); return n;
    }
    if (e.via === "user") {
      if (e.msgtype === "click") { return notice(fmt(T.tapped, { name: b.name })); }
      if (e.msgtype === "location") { return row(true, bubble("📍 " + (b.label || T.location) + "\n" + b.latitude + ", " + b.longitude)); }
      return row(true, bubble(b.content || ""));
    }
    if (e.msgtype === "template") { return row(false, templateCard(b, clock(e.time)), tag); }
    if (e.msgtype === "transfer") { return notice(T.transfer); }
    if (e.msgtype === "text") { return row(false, bubble(b.content || ""), tag); }
    if (e.msgtype === "news") {
      var list = el("div"); (b.articles || []).forEach(function (a) { list.appendChild(newsCard(a)); });
      return row(false, list, tag);
    }
    if (e.msgtype === "msgmenu") { return row(false, menuMessage(b), tag); }
    if (e.msgtype === "miniprogrampage") { return row(false, newsCard({ title: b.title }), tag); }
    return row(false, bubble(fmt(T.media, { kind: e.msgtype })), tag);
  }
  function append(entries) {
    entries.forEach(function (e) {
      if (e.id <= st.lastId) { return; }
      st.lastId = e.id;
      $("phone-empty").hidden = true;
      if (e.time - st.lastTime > 300) { chat.appendChild(el("div", "time", clock(e.time))); }
      st.lastTime = e.time;
      var node = render(e); node.dataset.entry = e.id; node.dataset.via = e.via;
      chat.appendChild(node);
    });
    if (entries.length) { chat.scrollTop = chat.scrollHeight; }
  }

  /* ---- person, menu, QR ---- */
  function setPerson(p) {
    st.person = p;
    var on = !!(p && p.subscribed);
    $("sbx-status").textContent = p ? (on ? T.following : T.not_following) : "";
    $("sbx-status").className = "sbx-badge" + (on ? " on" : "");
    $("sbx-status").hidden = !p;
    $("sbx-openid").textContent = p ? p.openid : "";
    $("sbx-follow").disabled = !p || on; $("sbx-unfollow").disabled = !on;
    $("sbx-block").checked = !!(p && p.blocks_templates);
    ["phone-text", "phone-send", "sbx-location"].forEach(function (id) { $(id).disabled = !on; });
    $("phone-text").placeholder = on ? "" : T.follow_to_chat;
    if (!p) { $("phone-empty").textContent = T.pick_user; }
    drawMenu();
  }
  function drawMenu() {
    var box = $("phone-menu-items"); box.textContent = "";
    var on = !!(st.person && st.person.subscribed), buttons = st.menu ? st.menu.button : [];
    if (!buttons.length) { box.appendChild(el("div", "menu-none", T.no_menu)); }
    buttons.forEach(function (b) {
      var top = el("div", "menu-top"), btn = el("button", b.sub_button && b.sub_button.length ? "has-sub" : "", b.name);
      btn.type = "button"; btn.disabled = !on;
      if (b.sub_button && b.sub_button.length) {
        var pop = el("div", "menu-pop"); pop.hidden = true;
        b.sub_button.forEach(function (s) {
          var sb = el("button", "", s.name); sb.type = "button";
          sb.addEventListener("click", function (ev) { ev.stopPropagation(); pop.hidden = true; tap(s); });
          pop.appendChild(sb);
        });
        btn.addEventListener("click", function (ev) {
          ev.stopPropagation();
          var wasHidden = pop.hidden; closePops(); pop.hidden = !wasHidden;
        });
        top.appendChild(pop);
      } else { btn.addEventListener("click", function () { closePops(); tap(b); }); }
      top.insertBefore(btn, top.firstChild); box.appendChild(top);
    });
    var useMenu = buttons.length > 0 && on && st.mode !== "input";
    $("phone-to-menu").hidden = !(buttons.length > 0 && on);
    $("phone-menu").hidden = !useMenu; $("phone-input").hidden = useMenu;
  }
  function closePops() { document.querySelectorAll(".menu-pop").forEach(function (p) { p.hidden = true; }); }
  function tap(b) {
    if (b.type === "view") { act("view", { url: b.url }); openBrowser(b.url); return; }
    if (b.type === "miniprogram") { openBrowser(b.url); return; }
    if (b.type !== "click") { showError(T.unsupported); return; }
    act("click", { key: b.key });
  }
  function fillSelect(sel, items, placeholder) {
    sel.textContent = "";
    if (!items.length) { var o = el("option", "", placeholder); o.value = ""; sel.appendChild(o); }
    items.forEach(function (it) { var o = el("option", "", it.text); o.value = it.value; sel.appendChild(o); });
  }

  var overviewSeq = 0;   // only the newest overview is drawn: an older answer would forget a person made since
  function overview() {
    var mine = ++overviewSeq;
    return call("GET", "overview?account=" + encodeURIComponent(ACCOUNT)).then(function (d) {
      if (mine !== overviewSeq) { return; }
      st.menu = d.menu;
      var people = d.people.map(function (p) {
        return { value: p.openid, text: (p.label || p.openid.slice(0, 10) + "…") + (p.subscribed ? " ✓" : "") };
      });
      fillSelect($("sbx-person"), people, "—");
      if (people.length) { var none = el("option", "", "—"); none.value = ""; $("sbx-person").insertBefore(none, $("sbx-person").firstChild); }
      if (!d.people.some(function (p) { return p.openid === st.openid; })) { st.openid = ""; }
      $("sbx-person").value = st.openid;
      fillSelect($("sbx-scene"), d.scenes.map(function (s) {
        return { value: s.scene, text: (s.label || s.scene) + " · " + s.scene };
      }), T.no_qr);
      fillSelect($("sbx-ticket"), d.tickets.map(function (t) {
        return { value: t.ticket, text: t.scene + " · " + (t.permanent ? T.permanent : fmt(T.temporary, { minutes: Math.ceil(t.expires_in / 60) })) };
      }), T.no_qr);
      showQr();
      var me = d.people.filter(function (p) { return p.openid === st.openid; })[0];
      setPerson(me || null);
    });
  }
  function showQr() {
    var t = $("sbx-ticket").value, img = $("sbx-qr");
    img.hidden = !t;
    if (t) { img.src = QR + "?ticket=" + encodeURIComponent(t); }
  }
  function choose(openid) {
    st.openid = openid; localStorage.setItem(KEY, openid);
    st.lastId = 0; st.lastTime = 0; chat.textContent = "";
    var empty = el("p", "phone-empty"); empty.id = "phone-empty"; chat.appendChild(empty);
    if (!openid) { setPerson(null); return Promise.resolve(); }
    return call("POST", "select", { account: ACCOUNT, openid: openid }).then(poll);
  }

  /* ---- actions ---- */
  function act(action, params) {
    if (!st.openid) { showError(T.pick_user); return Promise.resolve(); }
    showError("");
    return call("POST", "act", { account: ACCOUNT, openid: st.openid, action: action, params: params || {} })
      .then(function (d) { append(d.entries); setPerson(d.person); if (action !== "text") { return overview(); } })
      .catch(function (err) { showError(err.message); });
  }
  function poll() {
    clearTimeout(st.timer);
    if (!st.openid) { return Promise.resolve(); }
    var q = "chat?account=" + encodeURIComponent(ACCOUNT) + "&openid=" + encodeURIComponent(st.openid) + "&after=" + st.lastId;
    return call("GET", q).then(function (d) {
      append(d.entries);
      if (!st.person || st.person.subscribed !== d.person.subscribed) { setPerson(d.person); }
    }).catch(function () { /* the next poll retries */ }).then(function () { st.timer = setTimeout(poll, 1500); });
  }
  function openBrowser(url) {
    var frame = $("phone-browser-frame"), title = $("phone-browser-title");
    var u; try { u = new URL(url, location.href); } catch (e) { return; }
    if (!/^https?:$/.test(u.protocol)) { return; }
    title.textContent = u.host === location.host ? T.webpage : u.host;
    frame.onload = function () {
      try { if (frame.contentDocument && frame.contentDocument.title) { title.textContent = frame.contentDocument.title; } } catch (e) { /* another origin */ }
    };
    frame.src = u.href; $("phone-browser-out").href = u.href; $("phone-browser").hidden = false;
  }
  function send() {
    var input = $("phone-text"), text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    act("text", { content: text });
  }

  /* ---- wiring ---- */
  $("sbx-account").addEventListener("change", function () { location.search = "?account=" + encodeURIComponent(this.value); });
  $("sbx-person").addEventListener("change", function () { choose(this.value); });
  $("sbx-new").addEventListener("click", function () {
    call("POST", "person", { account: ACCOUNT, label: $("sbx-label").value.trim() })
      .then(function (d) { $("sbx-label").value = ""; st.openid = d.openid; return overview().then(function () { return choose(d.openid); }); })
      .catch(function (err) { showError(err.message); });
  });
  $("sbx-follow").addEventListener("click", function () { act("follow"); });
  $("sbx-unfollow").addEventListener("click", function () { act("unfollow"); });
  $("sbx-scene-follow").addEventListener("click", function () { if ($("sbx-scene").value) { act("follow", { scene: $("sbx-scene").value }); } });
  $("sbx-scan").addEventListener("click", function () { if ($("sbx-ticket").value) { act("scan", { ticket: $("sbx-ticket").value }); } });
  $("sbx-ticket").addEventListener("change", showQr);
  $("sbx-location").addEventListener("click", function () {
    act("location", { latitude: $("sbx-lat").value, longitude: $("sbx-lng").value, label: $("sbx-place").value });
  });
  $("sbx-block").addEventListener("change", function () {
    if (st.openid) { call("POST", "blocking", { account: ACCOUNT, openid: st.openid, blocking: this.checked }).catch(function (err) { showError(err.message); }); }
  });
  $("phone-send").addEventListener("click", send);
  $("phone-text").addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); send(); } });
  $("phone-to-menu").addEventListener("click", function () { st.mode = "menu"; drawMenu(); });
  $("phone-to-input").addEventListener("click", function () { st.mode = "input"; drawMenu(); $("phone-text").focus(); });
  $("phone-browser-close").addEventListener("click", function () { $("phone-browser").hidden = true; $("phone-browser-frame").src = "about:blank"; });
  document.addEventListener("click", closePops);
  chat.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-open], [data-say]");
    if (!t) { return; }
    ev.preventDefault();
    if (t.dataset.say) { act("text", { content: t.dataset.say }); } else { openBrowser(t.dataset.open); }
  });
  setInterval(function () { var d = new Date(); $("phone-clock").textContent = d.getHours() + ":" + ("0" + d.getMinutes()).slice(-2); }, 10000);

  overview().then(function () { return choose(st.openid); }).catch(function (err) { showError(err.message); });
})();
