// The person's chat page: consent, then a streamed, checked conversation. No framework, no build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const H = { "Content-Type": "application/json", "X-Mindrail-Chat": "1" };
  const body = document.body;

  function openCrisis() { const d = $("crisis-dialog"); if (!d.open) d.showModal(); $("crisis-close").focus(); }
  $("crisis-button").addEventListener("click", openCrisis);
  $("crisis-close").addEventListener("click", () => { $("crisis-dialog").close(); $("crisis-button").focus(); });

  // Follow the conversation to its end while text arrives, unless the person has scrolled up to read.
  const root = document.documentElement;
  function nearBottom() { return window.innerHeight + window.scrollY >= root.scrollHeight - 48; }
  function follow(stick) { if (stick) window.scrollTo(0, root.scrollHeight); }

  // Crisis numbers become tel:/sms: links. Only the numbers the server lists (the locale's crisis resources) are
  // linked: a number a model made up stays plain text.
  const contacts = JSON.parse(body.dataset.contacts || "[]");
  const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const numbers = [...new Set(contacts.map((c) => c.number))].sort((a, b) => b.length - a.length);
  const numberRe = numbers.length ? new RegExp("(^|[^0-9])(" + numbers.map(escapeRe).join("|") + ")(?![0-9])", "g") : null;
  function contactFor(number, before) {
    const options = contacts.filter((c) => c.number === number);
    const texting = /\btext\b[^.\n]*$/i.test(before.slice(-40));
    return options.find((c) => c.kind === (texting ? "sms" : "tel")) || options[0];
  }
  function linkify(node) {
    const text = node.textContent;
    if (!numberRe || !text) return;
    const frag = document.createDocumentFragment();
    let last = 0;
    numberRe.lastIndex = 0;
    for (let m; (m = numberRe.exec(text)); ) {
      const start = m.index + m[1].length;
      const c = contactFor(m[2], text.slice(0, start));
      frag.append(document.createTextNode(text.slice(last, start)));
      const a = document.createElement("a");
      a.href = c.href;
      a.textContent = c.number;
      a.setAttribute("aria-label", c.label);
      a.className = "contact";
      frag.append(a);
      last = start + m[2].length;
    }
    if (last === 0) return;
    frag.append(document.createTextNode(text.slice(last)));
    node.replaceWith(frag);
  }

  function addMessage(role, text) {
    const stick = nearBottom();
    const li = document.createElement("li");
    li.className = role;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You said: " : "Assistant: ";
    const node = document.createTextNode(text);
    li.append(who, node);
    $("log").append(li);
    if (role === "assistant") linkify(node);
    follow(stick || role === "user");
    return li;
  }

  $("accept").addEventListener("click", async () => {
    const r = await fetch("/chat/api/start", { method: "POST", headers: H, credentials: "same-origin",
      body: JSON.stringify({ consent_version: body.dataset.consentVersion, locale: body.dataset.locale }) });
    if (!r.ok) { const e = $("consent-error"); e.textContent = "Sorry, that did not work. Please reload the page."; e.hidden = false; return; }
    $("consent").hidden = true;
    $("chat").hidden = false;
    $("message").focus();
  });

  async function send(text) {
    addMessage("user", text);
    const li = addMessage("assistant", "");
    const node = li.lastChild;
    $("send").disabled = true;
    try {
      const r = await fetch("/chat/api/message", { method: "POST", headers: H, credentials: "same-origin",
        body: JSON.stringify({ text }) });
      if (!r.ok || !r.body) { node.textContent = "Sorry, something went wrong. If you need help now, use the crisis resources button."; return; }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const event = buf.slice(0, i); buf = buf.slice(i + 2);
          const isDone = event.startsWith("event: done");
          const data = event.split("\n").find((l) => l.startsWith("data: "));
          if (!data) continue;
          const payload = JSON.parse(data.slice(6));
          const stick = nearBottom();
          if (isDone) {
            if (payload.crisis) { li.classList.add("crisis"); li.setAttribute("data-crisis", "1"); }
            linkify(node);
            li.setAttribute("data-source", payload.source);
            if (payload.held) pollUpdates();
          }
          else node.textContent += payload.text;
          follow(stick);
        }
      }
    } finally {
      $("send").disabled = false;
      $("message").focus();
    }
  }

  // A held reply arrives once a member of the care team has reviewed it (or the safe fallback after the timeout).
  let polling = false;
  async function pollUpdates() {
    if (polling) return;
    polling = true;
    try {
      for (let i = 0; i < 400; i++) {
        await new Promise((r) => setTimeout(r, 2000));
        const r = await fetch("/chat/api/updates", { credentials: "same-origin" });
        if (!r.ok) return;
        const data = await r.json();
        for (const m of data.released) {
          const li = addMessage("assistant", m.text);
          li.setAttribute("data-source", "released");
          li.setAttribute("data-release", m.release);
        }
        if (data.released.length) return;
      }
    } finally { polling = false; }
  }

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("message").value.trim();
    if (!t) return;
    $("message").value = "";
    send(t);
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  });

  // Care tools: check-ins (form or chat), mood, the safety plan. Every word shown comes from the server.
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  $("checkin-open").addEventListener("click", async () => {
    const name = $("instrument").value;
    const r = await fetch("/chat/api/care/instrument/" + name, { credentials: "same-origin" });
    if (!r.ok) { $("checkin-result").textContent = "Sorry, the questionnaire could not be loaded."; return; }
    const q = await r.json();
    $("checkin-title").textContent = q.title;
    $("checkin-stem").textContent = q.stem;
    $("checkin-notice").textContent = q.notice;
    const box = $("checkin-items");
    box.replaceChildren();
    for (const item of q.items) {
      const fs = el("fieldset", { class: "item" });
      fs.append(el("legend", {}, item.n + ". " + item.text));
      for (const o of q.options) {
        const id = "item" + item.n + "-" + o.value;
        const input = el("input", { type: "radio", name: "item" + item.n, id: id, value: String(o.value), required: "" });
        const label = el("label", { for: id }, o.text);
        const row = el("div", { class: "option" });
        row.append(input, label);
        fs.append(row);
      }
      box.append(fs);
    }
    $("checkin-form").dataset.instrument = name;
    $("checkin-form").dataset.items = String(q.items.length);
    $("checkin-form").hidden = false;
    box.querySelector("input").focus();
  });
  $("checkin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = $("checkin-form");
    const values = [];
    for (let n = 1; n <= Number(f.dataset.items); n++) {
      const picked = f.querySelector('input[name="item' + n + '"]:checked');
      values.push(Number(picked.value));
    }
    const r = await fetch("/chat/api/care/checkin", { method: "POST", headers: H, credentials: "same-origin",
      body: JSON.stringify({ instrument: f.dataset.instrument, values }) });
    if (!r.ok) { $("checkin-result").textContent = "Sorry, that did not work."; return; }
    const s = await r.json();
    f.hidden = true;
    $("checkin-result").textContent = "Your total is " + s.total + " out of " + s.max_total + " (" + s.band + "). " + s.plain + " This is a check-in, not a diagnosis.";
    if (s.follow_up) {
      const li = addMessage("assistant", s.follow_up);
      li.setAttribute("data-source", "care");
      $("message").focus();
    }
  });
  $("checkin-chat").addEventListener("click", async () => {
    const r = await fetch("/chat/api/care/checkin/chat", { method: "POST", headers: H, credentials: "same-origin",
      body: JSON.stringify({ instrument: $("instrument").value }) });
    if (!r.ok) { $("checkin-result").textContent = "Sorry, that did not work."; return; }
    const s = await r.json();
    const li = addMessage("assistant", s.prompt);
    li.setAttribute("data-source", "care");
    $("checkin-result").textContent = "The questions are in the chat: answer each in your own words.";
    $("message").focus();
  });
  $("mood-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = $("mood-note").value.trim();
    const r = await fetch("/chat/api/care/mood", { method: "POST", headers: H, credentials: "same-origin",
      body: JSON.stringify({ rating: Number($("mood-rating").value), note: note || null }) });
    $("mood-status").textContent = r.ok ? "Saved. Thank you." : "Sorry, that did not work.";
  });
  $("plan-open").addEventListener("click", async () => {
    const r = await fetch("/chat/api/care/plan", { credentials: "same-origin" });
    if (!r.ok) { $("plan-status").textContent = "Sorry, the plan could not be loaded."; return; }
    const plan = await r.json();
    const box = $("plan-sections");
    box.replaceChildren();
    plan.sections.forEach((s, i) => {
      const id = "plan-" + s.id;
      const wrap = el("div", { class: "plan-section" });
      wrap.append(el("label", { for: id }, (i + 1) + ". " + s.title));
      wrap.append(el("p", { class: "hint", id: id + "-hint" }, s.prompt));
      const ta = el("textarea", { id: id, rows: "3", "data-section": s.id, "aria-describedby": id + "-hint" });
      ta.value = s.entries.join("\n");
      wrap.append(ta);
      box.append(wrap);
    });
    $("plan-form").hidden = false;
    box.querySelector("textarea").focus();
  });
  $("plan-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const sections = {};
    for (const ta of $("plan-sections").querySelectorAll("textarea")) {
      sections[ta.dataset.section] = ta.value.split("\n").map((x) => x.trim()).filter((x) => x);
    }
    const r = await fetch("/chat/api/care/plan", { method: "PUT", headers: H, credentials: "same-origin",
      body: JSON.stringify({ sections }) });
    $("plan-status").textContent = r.ok ? "Your safety plan is saved." : "Sorry, that did not work.";
  });

  $("export").addEventListener("click", () => { window.location.href = "/chat/api/export"; });
  $("withdraw").addEventListener("click", async () => {
    const r = await fetch("/chat/api/withdraw", { method: "POST", headers: H, credentials: "same-origin" });
    $("rights-status").textContent = r.ok ? "Consent withdrawn. No more messages will be sent." : "That did not work.";
    if (r.ok) { $("send").disabled = true; $("message").disabled = true; }
  });
  $("delete").addEventListener("click", async () => {
    const r = await fetch("/chat/api/delete", { method: "POST", headers: H, credentials: "same-origin" });
    $("rights-status").textContent = r.ok ? "Deleted. Nothing from this conversation is kept." : "That did not work.";
    if (r.ok) { $("log").replaceChildren(); $("send").disabled = true; $("message").disabled = true; }
  });
})();
