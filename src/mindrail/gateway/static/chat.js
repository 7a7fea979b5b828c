// The person's chat page: consent, then a streamed, checked conversation. No framework, no build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const H = { "Content-Type": "application/json", "X-Mindrail-Chat": "1" };
  const body = document.body;

  function openCrisis() { const d = $("crisis-dialog"); if (!d.open) d.showModal(); $("crisis-close").focus(); }
  $("crisis-button").addEventListener("click", openCrisis);
  $("crisis-close").addEventListener("click", () => { $("crisis-dialog").close(); $("crisis-button").focus(); });

  function addMessage(role, text) {
    const li = document.createElement("li");
    li.className = role;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You said: " : "Assistant: ";
    li.append(who, document.createTextNode(text));
    $("log").append(li);
    li.scrollIntoView({ block: "end" });
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
          if (isDone) {
            if (payload.crisis) { li.classList.add("crisis"); li.setAttribute("data-crisis", "1"); }
            li.setAttribute("data-source", payload.source);
            if (payload.held) pollUpdates();
          }
          else node.textContent += payload.text;
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
