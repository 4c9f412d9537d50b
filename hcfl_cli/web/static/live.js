// Live updates of the HCFL deployment page, without a reload: every poll asks the server
// for the parts of the page that changed since the versions shown, and swaps them in.
// The parts are HTML that the server rendered and escaped; nothing here builds markup
// from data. Between polls it counts the current phase's deadline down on the chain's
// clock (the last block's timestamp).
"use strict";
(function () {
  const root = document.documentElement;
  const poll = Math.max(200, Number(root.dataset.poll) || 1000);
  const versions = { live: root.dataset.live, history: root.dataset.history };
  let chainNow = null; // the chain's time at the last answer
  let answeredAt = 0;  // when that answer came, by this browser's clock

  function swap(id, html) {
    const el = document.getElementById(id);
    if (!el) return;
    const open = new Set([...el.querySelectorAll("details[open]")].map((d) => d.id));
    const images = new Map([...el.querySelectorAll("img")].map((i) => [i.getAttribute("src"), i]));
    const parsed = new DOMParser().parseFromString(html, "text/html");
    // a plot whose address did not change is kept as it is: no reload, no flicker
    for (const img of parsed.body.querySelectorAll("img")) {
      const kept = images.get(img.getAttribute("src"));
      if (kept) img.replaceWith(kept);
    }
    el.replaceChildren(...parsed.body.childNodes);
    for (const d of el.querySelectorAll("details")) if (open.has(d.id)) d.open = true;
  }

  function format(seconds) {
    if (seconds < 0) return "passed";
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    const m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    const two = (n) => String(n).padStart(2, "0");
    return (d ? d + " d " : "") + (d || h ? two(h) + ":" : "") + two(m) + ":" + two(s);
  }

  function tick() {
    if (chainNow === null) return;
    const now = chainNow + (Date.now() - answeredAt) / 1000;
    for (const el of document.querySelectorAll("[data-deadline]")) {
      el.textContent = format(Math.floor(Number(el.dataset.deadline) - now));
    }
  }

  function pageStatus(text) {
    const el = document.getElementById("page-status");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function update() {
    try {
      const url = "/update?live=" + encodeURIComponent(versions.live) + "&history=" + encodeURIComponent(versions.history);
      const resp = await fetch(url, { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const u = await resp.json();
      for (const part of ["live", "history"]) {
        if (u[part]) {
          swap(part, u[part].html);
          versions[part] = String(u[part].version);
        }
      }
      if (u.now !== null) {
        chainNow = u.now;
        answeredAt = Date.now();
        const head = document.getElementById("head");
        if (head) head.textContent = "block " + u.block + ", chain time " + new Date(u.now * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
      }
      pageStatus("");
    } catch (err) {
      pageStatus("This page's server (hcfl web) does not answer: " + err.message + ". Trying again.");
    }
    tick();
    setTimeout(update, poll);
  }

  setInterval(tick, 1000);
  update();
})();
