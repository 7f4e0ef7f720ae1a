// Sortable tables: a progressive enhancement. Without JavaScript the tables keep the order in
// which the report wrote them, which is already the useful one.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, col) => {
      const type = th.dataset.sort;
      if (!type) return;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", () => {
        const body = table.tBodies[0];
        const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        for (const h of heads) h.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        const key = (row) => {
          const cell = row.cells[col];
          const v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
          return type === "num" ? parseFloat(v) : v;
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a);
          const y = key(b);
          return (x < y ? -1 : x > y ? 1 : 0) * dir;
        });
        for (const row of rows) body.appendChild(row);
      });
    });
  }
});

// The index's search over every cluster (index-data.js), in pages of PAGE_SIZE rows, and its
// keys, as in dedup serve: / to search, j and k to move through the rows, Enter to open one.
const PAGE_SIZE = 50;

function searchIndex() {
  const data = window.dedupIndex;
  const form = document.getElementById("search");
  const table = document.getElementById("cluster-table");
  if (!data || !form || !table) return;
  const col = Object.fromEntries(data.fields.map((name, k) => [name, k]));
  const rows = data.rows;
  // Lower-cased text searched for each cluster, built once.
  const hay = rows.map((r) => [r[col.snippet], ...r[col.members]].join("\n").toLowerCase());
  const $ = (id) => document.getElementById(id);
  const count = $("count");
  const pager = $("pager");
  let page = 0;
  let found = [];
  let at = -1; // the selected row of the page shown, -1 for none
  let shownState = "";

  const head = table.tHead.rows[0];
  head.innerHTML = "";
  for (const name of ["Cluster", "Members", "First line", "Min Jaccard", "Mean Jaccard", "Min containment", "Noise"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.appendChild(th);
  }
  table.classList.remove("sortable");
  form.hidden = false;

  const sorts = {
    size: (a, b) => b[col.size] - a[col.size] || a[col.min_jaccard] - b[col.min_jaccard] || a[col.cluster] - b[col.cluster],
    sim: (a, b) => a[col.min_jaccard] - b[col.min_jaccard] || a[col.cluster] - b[col.cluster],
    noise: (a, b) => bits(b[col.noise]) - bits(a[col.noise]) || a[col.min_jaccard] - b[col.min_jaccard] || a[col.cluster] - b[col.cluster],
    cluster: (a, b) => a[col.cluster] - b[col.cluster],
  };
  function bits(x) {
    let n = 0;
    for (; x; x >>= 1) n += x & 1;
    return n;
  }

  function filter() {
    const q = $("q").value.trim().toLowerCase();
    const minSize = parseInt($("min-size").value, 10) || 0;
    const maxSim = parseFloat($("max-sim").value);
    const noise = $("noise").value;
    const paged = $("paged").checked;
    const number = /^\d+$/.test(q) ? parseInt(q, 10) : null;
    // The same search again (a change event as the box loses focus) keeps the page and the
    // selected row.
    const state = JSON.stringify([q, minSize, maxSim, noise, paged, $("sort").value]);
    if (state === shownState) return;
    shownState = state;
    found = [];
    rows.forEach((r, k) => {
      if (r[col.size] < minSize) return;
      if (!Number.isNaN(maxSim) && r[col.min_jaccard] > maxSim) return;
      if (noise !== "" && !(r[col.noise] & (1 << parseInt(noise, 10)))) return;
      if (paged && !r[col.page]) return;
      if (q && r[col.cluster] !== number && !hay[k].includes(q)) return;
      found.push(r);
    });
    found.sort(sorts[$("sort").value] || sorts.size);
    page = 0;
    show();
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function show() {
    const body = table.tBodies[0];
    body.textContent = "";
    const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    for (const r of found.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)) {
      const tr = document.createElement("tr");
      const first = cell(tr, "", "num");
      const number = String(r[col.cluster]);
      if (r[col.page]) {
        const a = document.createElement("a");
        a.href = "clusters/" + number.padStart(6, "0") + ".html";
        a.textContent = number;
        first.appendChild(a);
      } else {
        first.textContent = number;
        first.title = "no page of its own: see clusters.jsonl";
      }
      cell(tr, r[col.size].toLocaleString("en"), "num");
      const snippet = cell(tr, r[col.snippet], "snippet");
      snippet.lang = "zh";
      for (const k of ["min_jaccard", "mean_jaccard", "min_containment"]) cell(tr, r[col[k]].toFixed(3), "num");
      const kinds = data.noise_kinds.filter((_, k) => r[col.noise] & (1 << k));
      cell(tr, kinds.join(", ") || "—", "kinds");
      tr.className = "row";
      body.appendChild(tr);
    }
    at = -1;
    const paged = found.filter((r) => r[col.page]).length;
    count.textContent = `${found.length.toLocaleString("en")} of ${rows.length.toLocaleString("en")} clusters match (${paged.toLocaleString("en")} with a page of their own; the others are in clusters.jsonl).`;
    pager.hidden = pages <= 1;
    $("page-at").textContent = `Page ${page + 1} of ${pages}`;
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
  }

  let timer = 0;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(filter, 120);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    filter();
  });
  $("page-prev").addEventListener("click", () => { page -= 1; show(); });
  $("page-next").addEventListener("click", () => { page += 1; show(); });

  function select(k) {
    const shown = Array.from(table.tBodies[0].rows);
    if (!shown.length) return;
    // Past either end of the page, on to the next or previous page.
    const pages = Math.ceil(found.length / PAGE_SIZE);
    if (k >= shown.length && page < pages - 1) { page += 1; show(); select(0); return; }
    if (k < 0 && at >= 0 && page > 0) { page -= 1; show(); select(PAGE_SIZE - 1); return; }
    at = Math.max(0, Math.min(shown.length - 1, k));
    shown.forEach((tr, i) => {
      tr.classList.toggle("selected", i === at);
      if (i === at) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    });
    shown[at].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.key === "j") select(at + 1);
    else if (e.key === "k") select(at - 1);
    else if (e.key === "/") { $("q").focus(); $("q").select(); }
    else if (e.key === "Enter" && at >= 0 && !(t instanceof Element && t.closest("a, button, summary"))) {
      const link = table.tBodies[0].rows[at].querySelector("a");
      if (!link) return;
      window.location.href = link.href;
    } else return;
    e.preventDefault();
  });
  $("keys").hidden = false;
  filter();
}

// A cluster page's diffs: identical blocks collapsed, next/previous change (keys n and p),
// unified or side-by-side view, raw differences shown on demand.
function diffTools() {
  const bar = document.getElementById("toolbar");
  if (!bar) return;
  bar.hidden = false;
  const body = document.body;
  // The diff tables' heads stick right under the toolbar, whatever its height.
  const fit = () => document.documentElement.style.setProperty("--bar", bar.offsetHeight + "px");
  fit();
  window.addEventListener("resize", fit);
  const changes = Array.from(document.querySelectorAll("table.diff tr.change, table.diff tr.rep_only, table.diff tr.member_only"));
  const where = document.getElementById("where");

  for (const run of document.querySelectorAll("tbody.same-run")) {
    const fold = run.querySelector("tr.fold");
    const button = fold.querySelector("button");
    const label = button.textContent.replace(/: show$/, "");
    fold.hidden = false;
    run.classList.add("collapsed");
    button.addEventListener("click", () => {
      const open = run.classList.toggle("collapsed") === false;
      button.setAttribute("aria-expanded", String(open));
      button.textContent = label + (open ? ": hide" : ": show");
    });
  }

  function go(step) {
    if (!changes.length) {
      where.textContent = "No changes: every block is identical after folding.";
      return;
    }
    // From what is on screen now, so scrolling by hand is respected: the first change below
    // the toolbar, or the last one above it.
    const line = bar.getBoundingClientRect().bottom + 8;
    let k = -1;
    if (step > 0) {
      k = changes.findIndex((tr) => tr.getBoundingClientRect().top > line);
      if (k < 0) k = changes.length - 1;
    } else {
      changes.forEach((tr, i) => { if (tr.getBoundingClientRect().top < line - 12) k = i; });
      if (k < 0) k = 0;
    }
    const tr = changes[k];
    const y = tr.getBoundingClientRect().top + window.scrollY - bar.offsetHeight - 4;
    window.scrollTo(0, Math.max(0, y));
    tr.focus({ preventScroll: true });
    for (const c of document.querySelectorAll("tr.current")) c.classList.remove("current");
    tr.classList.add("current");
    where.textContent = `Change ${k + 1} of ${changes.length}`;
  }

  function toggle(id, cls, on, off) {
    const button = document.getElementById(id);
    button.addEventListener("click", () => {
      const pressed = body.classList.toggle(cls);
      button.setAttribute("aria-pressed", String(pressed));
      if (on) button.textContent = pressed ? on : off;
    });
  }
  document.getElementById("next-change").addEventListener("click", () => go(1));
  document.getElementById("prev-change").addEventListener("click", () => go(-1));
  toggle("view", "unified", "Split view", "Unified view");
  toggle("raw", "raw");
  document.getElementById("same").addEventListener("click", (e) => {
    const show = e.currentTarget.getAttribute("aria-pressed") !== "true";
    e.currentTarget.setAttribute("aria-pressed", String(show));
    for (const run of document.querySelectorAll("tbody.same-run")) {
      run.classList.toggle("collapsed", !show);
      const b = run.querySelector("tr.fold button");
      b.setAttribute("aria-expanded", String(show));
      b.textContent = b.textContent.replace(/: (show|hide)$/, show ? ": hide" : ": show");
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (e.key === "n") { go(1); e.preventDefault(); }
    else if (e.key === "p") { go(-1); e.preventDefault(); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  searchIndex();
  diffTools();
});
