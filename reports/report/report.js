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
