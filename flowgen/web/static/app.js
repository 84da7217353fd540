// flowgen dashboard: live refresh of runs and of a run's page, confirmations, JSON checks.
// Everything works without this file; it only saves reloads and asks before actions.
"use strict";

(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";

  // Ask before every form that changes a run (data-confirm holds the question).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });

  // A JSON payload field: refuse to submit text that is not JSON, and say why.
  document.querySelectorAll("textarea[data-json]").forEach(function (area) {
    const form = area.form;
    const message = form.querySelector(".json-error");
    form.addEventListener("submit", function (event) {
      const text = area.value.trim();
      if (!text) { return; }
      try { JSON.parse(text); if (message) { message.hidden = true; } }
      catch (error) {
        event.preventDefault();
        if (message) { message.textContent = "The payload is not valid JSON: " + error.message; message.hidden = false; }
      }
    });
  });

  document.querySelectorAll("[data-back]").forEach(function (link) {
    link.addEventListener("click", function (event) { event.preventDefault(); history.back(); });
  });

  async function fetchText(url) {
    const response = await fetch(url, { headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    if (!response.ok) { throw new Error(response.status + " " + url); }
    return response.text();
  }

  // The runs table: replace its rows every two seconds, marking the rows that changed.
  const table = document.querySelector("table.runs[data-live]");
  if (table) {
    const rows = table.querySelector("tbody");
    setInterval(async function () {
      try {
        const before = {};
        rows.querySelectorAll("tr[data-run-id]").forEach(function (row) { before[row.dataset.runId] = row.dataset.updated; });
        const template = document.createElement("template");
        template.innerHTML = await fetchText(table.dataset.live);
        template.content.querySelectorAll("tr[data-run-id]").forEach(function (row) {
          if (before[row.dataset.runId] !== row.dataset.updated) { row.classList.add("changed"); }
        });
        rows.replaceChildren(template.content);
      } catch (error) { /* the next tick tries again */ }
    }, 2000);
  }

  // A run's page: refresh its live part every second while the run is not finished.
  const live = document.getElementById("run-live");
  if (live) {
    const finished = ["completed", "failed", "cancelled"];
    const timer = setInterval(async function () {
      try {
        const template = document.createElement("template");
        template.innerHTML = await fetchText(live.dataset.live);
        live.replaceChildren(template.content);
        const status = document.getElementById("run-status");
        if (status && finished.indexOf(status.dataset.status) >= 0) { clearInterval(timer); }
      } catch (error) { /* the next tick tries again */ }
    }, 1000);
  }
})();
