
"use strict";
// Sorting and filtering of the findings table. The page is complete without this script: it only reads
// the table from the DOM and hides or reorders its rows. The filters live in the URL fragment
// (#severity=critical&namespace=shop&result=Fail&q=text), so a filtered view can be bookmarked.
(() => {
  const root = document.documentElement;
  const table = document.getElementById("findings");
  if (!table) {
    root.dataset.rendered = "true";
    return;
  }
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const order = new Map(rows.map((row, i) => [row, i]));
  const form = document.getElementById("filters");
  const { q, severity, result, namespace } = form.elements;
  const selects = { severity, result, namespace };
  const shown = document.getElementById("shown");

  // The first option of each select is "all".
  const chosen = (select) => (select.selectedIndex > 0 ? select.value : null);

  function apply() {
    const text = q.value.trim().toLowerCase();
    const want = { severity: chosen(severity), result: chosen(result), namespace: chosen(namespace) };
    let visible = 0;
    for (const row of rows) {
      const match = Object.entries(want).every(([key, value]) => value === null || row.dataset[key] === value)
        && (text === "" || row.textContent.toLowerCase().includes(text));
      row.hidden = !match;
      if (match) visible += 1;
    }
    shown.textContent = `${visible} of ${rows.length} findings`;
    table.dataset.visibleRows = String(visible);
  }

  function save() {
    const params = new URLSearchParams();
    for (const [key, select] of Object.entries(selects)) {
      if (chosen(select) !== null) params.set(key, select.value);
    }
    if (q.value.trim() !== "") params.set("q", q.value.trim());
    const hash = params.toString();
    history.replaceState(null, "", hash === "" ? location.pathname + location.search : `#${hash}`);
  }

  function load() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const [key, select] of Object.entries(selects)) {
      select.value = params.get(key) ?? "";
      if (select.selectedIndex < 0 || !params.has(key)) select.selectedIndex = 0;
    }
    q.value = params.get("q") ?? "";
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("input", () => { apply(); save(); });
  window.addEventListener("hashchange", () => { load(); apply(); });

  // Sortable columns: a button in each header; a second click reverses.
  const headers = Array.from(table.tHead.rows[0].cells);
  const key = (row, col, numeric) => {
    const cell = row.cells[col];
    const value = cell.dataset.key ?? cell.textContent;
    return numeric ? Number(value) : value;
  };
  headers.forEach((th, col) => {
    if (!th.dataset.sort) return;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.replaceChildren(button);
    button.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const numeric = th.dataset.sort === "number";
      rows.sort((a, b) => {
        const x = key(a, col, numeric);
        const y = key(b, col, numeric);
        const cmp = numeric ? x - y : x.localeCompare(y);
        return dir * cmp || order.get(a) - order.get(b);
      });
      body.append(...rows);
    });
  });

  // A bar of a chart shows the failing findings it counts: its severity or namespace alone.
  for (const bar of document.querySelectorAll(".bar[data-severity], .bar[data-namespace]")) {
    bar.classList.add("live");
    bar.addEventListener("click", () => {
      const params = new URLSearchParams({ result: "Fail" });
      for (const name of ["severity", "namespace"]) {
        if (bar.dataset[name] !== undefined) params.set(name, bar.dataset[name]);
      }
      history.replaceState(null, "", `#${params}`);
      load();
      apply();
      table.scrollIntoView({ block: "start" });
    });
  }

  load();
  apply();
  form.hidden = false;
  root.dataset.rendered = "true";
})();
