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
