// dedup serve: keyboard navigation and labelling without reloading the page. Without
// JavaScript the links and the forms do the same.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const rows = Array.from(document.querySelectorAll("tr.row"));
  let at = -1;
  const select = (k) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, k));
    rows.forEach((r, i) => {
      r.classList.toggle("selected", i === at);
      if (i === at) r.setAttribute("aria-current", "true");
      else r.removeAttribute("aria-current");
    });
    rows[at].scrollIntoView({ block: "nearest" });
  };
  const typing = (e) => {
    const t = e.target;
    return t instanceof HTMLInputElement || t instanceof HTMLSelectElement ||
      t instanceof HTMLTextAreaElement;
  };
  const VERDICT_TEXT = { same: "✓ same article", different: "✗ different", none: "— not labelled" };
  const show = (b, dup) => {
    for (const row of rows) {
      if (row.dataset.b !== b) continue;
      const v = dup ? "same" : "different";
      row.dataset.verdict = v;
      row.querySelector("td.verdict").textContent = VERDICT_TEXT[v];
      row.querySelector("button.same").setAttribute("aria-pressed", String(dup));
      row.querySelector("button.different").setAttribute("aria-pressed", String(!dup));
    }
  };
  const status = document.createElement("p");
  status.setAttribute("role", "status");
  status.className = "saved";
  const review = document.getElementById("review");
  if (review) review.appendChild(status);
  const send = async (form) => {
    const data = new FormData(form);
    const dup = data.get("dup") === "true";
    // A whole cluster is labelled by its number: the server knows every member, listed or not.
    const cluster = data.get("cluster");
    const a = data.get("a");
    const body = cluster !== null
      ? { cluster: Number(cluster), dup }
      : data.getAll("b").map((b) => ({ a, b, dup }));
    if (Array.isArray(body) && !body.length) return;
    const response = await fetch("/api/labels", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      status.textContent = "Not saved: " + (await response.text());
      return;
    }
    const labels = await response.json();
    for (const l of labels) show(l.b, l.dup);
    status.textContent = `Saved ${labels.length} verdict${labels.length === 1 ? "" : "s"}.`;
  };
  for (const form of document.querySelectorAll("form.label")) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      send(form).catch((err) => { status.textContent = "Not saved: " + err; });
    });
  }
  const press = (cls) => {
    if (at < 0) return;
    const button = rows[at].querySelector("button." + cls);
    if (button) button.click();
  };
  const follow = (rel) => {
    const link = document.querySelector(`nav.top a[rel="${rel}"]`);
    if (link) window.location.href = link.href;
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (e.key === "j") select(at + 1);
    else if (e.key === "k") select(at - 1);
    else if (e.key === "Enter" && at >= 0) {
      const link = rows[at].querySelector("a");
      if (link && !review) window.location.href = link.href;
      else return;
    } else if (e.key === "/") {
      const box = document.getElementById("q") || document.getElementById("go-id");
      box.focus();
      box.select();
    } else if (e.key === "s" && review) press("same");
    else if (e.key === "d" && review) press("different");
    else if (e.key === "n" && review) follow("next");
    else if (e.key === "p" && review) follow("prev");
    else return;
    e.preventDefault();
  });
});
