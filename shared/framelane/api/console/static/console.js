// The console: sign-in, new task, task list, task detail with the result viewer, webhooks.
import { api, ApiError, putFile, session } from "./api.js";
import { $, $$, badge, formatElapsed, formatTime, h } from "./dom.js";
import { showCredentials, showResult } from "./viewer.js";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const views = ["signin", "new", "tasks", "task", "webhooks"];
let leaveView = () => {};

function show(name) {
  leaveView();
  leaveView = () => {};
  for (const view of views) $(`#view-${view}`).hidden = view !== name;
  $("#nav").hidden = name === "signin";
  for (const link of $$("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  if (!session.key) {
    show("signin");
    return;
  }
  const [, section, id] = (window.location.hash || "#/tasks").split("/");
  if (section === "new") { show("new"); return; }
  if (section === "webhooks") { show("webhooks"); loadWebhooks(); return; }
  if (section === "tasks" && id) { show("task"); openTask(decodeURIComponent(id)); return; }
  show("tasks");
  loadTasks();
}

// --- sign in -------------------------------------------------------------------------------------------

$("#signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  $("#signin-error").textContent = "";
  if (!key) { $("#signin-error").textContent = "Enter an API key."; return; }
  session.set(key);
  try {
    await api("/v1/tasks", { query: { limit: 1 } });
  } catch (error) {
    session.clear();
    $("#signin-error").textContent = error instanceof ApiError && error.status === 401
      ? "That key was not accepted." : error.message;
    return;
  }
  $("#api-key").value = "";
  if (!window.location.hash || window.location.hash === "#/") window.location.hash = "#/tasks";
  route();
});

$("#sign-out").addEventListener("click", () => {
  session.clear();
  window.location.hash = "";
  route();
});

window.addEventListener("framelane:unauthorized", () => {
  session.clear();
  route();
  $("#signin-error").textContent = "The key is no longer accepted; sign in again.";
});

// --- task list -----------------------------------------------------------------------------------------

const listing = { cursors: [null], page: 0, timer: 0, generation: 0 };

function resetPaging() {
  listing.cursors = [null];
  listing.page = 0;
}

async function loadTasks() {
  clearTimeout(listing.timer);
  const generation = ++listing.generation; // a slower, older answer (other filters) must not land
  const form = $("#task-filters");
  const query = {
    type: form.elements.type.value,
    status: form.elements.status.value,
    limit: form.elements.limit.value,
    cursor: listing.cursors[listing.page],
  };
  $("#tasks-error").textContent = "";
  let page;
  try {
    page = await api("/v1/tasks", { query });
  } catch (error) {
    if (generation === listing.generation) $("#tasks-error").textContent = error.message;
    return;
  }
  if (generation !== listing.generation) return;
  if (page.has_more) listing.cursors[listing.page + 1] = page.next_cursor;
  $("#task-rows").replaceChildren(...page.data.map(taskRow));
  $("#tasks-empty").hidden = page.data.length > 0;
  $("#page-prev").disabled = listing.page === 0;
  $("#page-next").disabled = !page.has_more;
  $("#page-label").textContent = `Page ${listing.page + 1}`;
  if (page.data.some((task) => !TERMINAL.has(task.status))) {
    listing.timer = setTimeout(loadTasks, 2000);
    leaveView = () => clearTimeout(listing.timer);
  }
}

function taskRow(task) {
  const cancel = TERMINAL.has(task.status) ? null : h("button", {
    type: "button", class: "small danger", text: "Cancel", "aria-label": `Cancel ${task.id}`,
    onclick: async () => { await cancelTask(task.id); loadTasks(); },
  });
  return h("tr", { dataset: { taskId: task.id } },
    h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(task.id)}`, class: "mono", text: task.id })),
    h("td", { text: (task.task_type || "").replace(/_/g, " ") }),
    h("td", {}, badge(task.status)),
    h("td", { text: `${task.progress_percent} %` }),
    h("td", { text: formatTime(task.created_at) }),
    h("td", {}, cancel));
}

async function cancelTask(id) {
  try {
    await api(`/v1/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  } catch (error) {
    window.alert(error.message);
  }
}

$("#task-filters").addEventListener("change", () => { resetPaging(); loadTasks(); });
$("#task-filters").addEventListener("submit", (event) => event.preventDefault());
$("#page-next").addEventListener("click", () => { listing.page += 1; loadTasks(); });
$("#page-prev").addEventListener("click", () => { listing.page = Math.max(0, listing.page - 1); loadTasks(); });

// --- new task ------------------------------------------------------------------------------------------

const taskForm = $("#task-form");
const chosen = { file: null, upload: null };

function activeType() {
  return taskForm.querySelector("input[name=task_type]:checked");
}

function activeOptions() {
  return taskForm.querySelector(`fieldset.options[data-task-type="${activeType().value}"]`);
}

for (const radio of $$("input[name=task_type]", taskForm)) {
  radio.addEventListener("change", () => {
    for (const fieldset of $$("fieldset.options", taskForm)) {
      fieldset.hidden = fieldset.dataset.taskType !== activeType().value;
    }
  });
}

function chooseFile(file) {
  chosen.file = file;
  chosen.upload = null;
  $("#file-name").textContent = file ? `${file.name} · ${(file.size / 1e6).toFixed(2)} MB` : "";
  $("#drop-zone").classList.toggle("has-file", Boolean(file));
}

$("#source-file").addEventListener("change", (event) => chooseFile(event.target.files[0] || null));
const dropZone = $("#drop-zone");
dropZone.addEventListener("dragover", (event) => { event.preventDefault(); dropZone.classList.add("dragging"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("dragging");
  if (event.dataTransfer.files.length) chooseFile(event.dataTransfer.files[0]);
});

function readOptions() {
  const options = {};
  for (const field of $$(".field", activeOptions())) {
    const name = field.dataset.field;
    const inputs = $$(`[name="${name}"]`, field);
    switch (field.dataset.kind) {
      case "number": {
        const text = inputs[0].value.trim();
        if (text !== "") options[name] = Number.isNaN(Number(text)) ? text : Number(text);
        break;
      }
      case "choices": options[name] = inputs.filter((i) => i.checked).map((i) => i.value); break;
      case "boolean": options[name] = inputs[0].checked; break;
      default: if (inputs[0].value.trim() !== "") options[name] = inputs[0].value.trim();
    }
  }
  return options;
}

function clearErrors(form) {
  for (const slot of $$(".field-error", form)) slot.textContent = "";
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
}

// Puts the API's own messages next to the fields they name; returns false if none matched a field.
function showFieldErrors(form, error, scope) {
  const named = error.details.length
    ? error.details.map((d) => [d.loc[0] === "body" ? d.loc[1] : d.loc[d.loc.length - 1], d.msg])
    : [[(error.message.match(/^([a-z_]+)[:.]/) || [])[1], error.message]];
  let placed = false;
  for (const [name, message] of named) {
    const slot = (scope && scope.querySelector(`[data-error-for="${name}"]`))
      || $$(`[data-error-for="${name}"]`, form).find((s) => !s.closest("fieldset.options"));
    if (!slot) continue;
    slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    const input = slot.closest(".field, fieldset, details")?.querySelector("input, select, textarea");
    if (input) input.setAttribute("aria-invalid", "true");
    placed = true;
  }
  return placed;
}

taskForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(taskForm);
  const status = $("#form-status");
  const button = $("#submit-task");
  const body = { ...readOptions() };
  const metadataText = $("#task-metadata").value.trim();
  if (metadataText) {
    try {
      body.metadata = JSON.parse(metadataText);
    } catch {
      $('[data-error-for="metadata"]', taskForm).textContent = "Metadata must be a JSON object.";
      return;
    }
  }
  const webhook = $("#task-webhook").value.trim();
  if (webhook) body.webhook_url = webhook;
  button.disabled = true;
  try {
    if (chosen.file) {
      if (!chosen.upload) {
        status.textContent = "Uploading…";
        const upload = await api("/v1/uploads", {
          method: "POST", body: chosen.file.type ? { content_type: chosen.file.type } : {},
        });
        await putFile(upload, chosen.file, (percent) => { status.textContent = `Uploading ${percent} %`; });
        chosen.upload = upload;
      }
      body.source_url = chosen.upload.source_url;
    } else {
      body.source_url = $("#source-url").value.trim();
    }
    status.textContent = "Starting the task…";
    const task = await api(activeType().dataset.path, { method: "POST", body });
    status.textContent = "";
    window.location.hash = `#/tasks/${encodeURIComponent(task.id)}`;
  } catch (error) {
    const placed = error instanceof ApiError && showFieldErrors(taskForm, error, activeOptions());
    status.textContent = placed ? "Please correct the fields marked below." : error.message;
  } finally {
    button.disabled = false;
  }
});

// --- one task: live progress, result, credentials --------------------------------------------------------

const detail = { id: null, timer: 0, clock: 0, task: null, shown: false };

async function openTask(id) {
  Object.assign(detail, { id, task: null, shown: false });
  $("#task-title").textContent = "Task";
  $("#task-id").textContent = id;
  $("#viewer").replaceChildren();
  $("#credentials").hidden = true;
  $("#task-download").hidden = true;
  $("#task-error").hidden = true;
  detail.clock = setInterval(renderElapsed, 1000);
  leaveView = () => { clearTimeout(detail.timer); clearInterval(detail.clock); detail.id = null; };
  await pollTask(id);
}

async function pollTask(id) {
  let task;
  try {
    task = await api(`/v1/tasks/${encodeURIComponent(id)}`);
  } catch (error) {
    if (detail.id !== id) return;
    $("#task-error").hidden = false;
    $("#task-error").textContent = error.message;
    if (error.status !== 404) detail.timer = setTimeout(() => pollTask(id), 3000);
    return;
  }
  if (detail.id !== id) return;
  detail.task = task;
  renderTask(task);
  if (TERMINAL.has(task.status)) {
    if (!detail.shown) {
      detail.shown = true;
      if (task.status === "completed") {
        showResult($("#viewer"), task);
        showCredentials($("#credentials"), task);
      }
    }
    return;
  }
  detail.timer = setTimeout(() => pollTask(id), 1000);
}

function renderTask(task) {
  const type = (task.task_type || "task").replace(/_/g, " ");
  $("#task-title").textContent = type.charAt(0).toUpperCase() + type.slice(1);
  $("#task-status").replaceWith(Object.assign(badge(task.status), { id: "task-status" }));
  $("#task-type").textContent = Object.entries(task.options || {})
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(", ") || "none" : value}`).join(" · ");
  const percent = task.status === "completed" ? 100 : task.progress_percent;
  const bar = $("#progress-bar");
  bar.style.width = `${percent}%`;
  bar.setAttribute("aria-valuenow", String(percent));
  bar.classList.toggle("done", task.status === "completed");
  bar.classList.toggle("failed", task.status === "failed" || task.status === "cancelled");
  $("#progress-percent").textContent = `${percent} %`;
  $("#progress-stage").textContent = task.progress_stage || task.status;
  renderElapsed();
  const error = $("#task-error");
  error.hidden = !task.error;
  error.textContent = task.error ? `${task.error.code}: ${task.error.message}` : "";
  $("#task-cancel").hidden = TERMINAL.has(task.status);
  const download = $("#task-download");
  download.hidden = !task.output;
  if (task.output) download.href = task.output.url;
  const rows = [["Created", formatTime(task.created_at)], ["Source", task.source_url || ""]];
  if (task.output) {
    const size = task.output.width ? `${task.output.width}×${task.output.height}` : "";
    rows.push(["Output", [size, task.output.duration ? `${task.output.duration.toFixed(2)} s` : "",
      task.output.size_bytes ? `${(task.output.size_bytes / 1e6).toFixed(2)} MB` : ""].filter(Boolean).join(" · ")]);
  }
  for (const [name, value] of Object.entries(task.metadata || {})) rows.push([name, String(value)]);
  $("#task-meta").replaceChildren(...rows.flatMap(([name, value]) => [h("dt", { text: name }), h("dd", { text: value })]));
}

function renderElapsed() {
  const task = detail.task;
  if (!task) return;
  const end = task.completed_at ? Date.parse(task.completed_at) : Date.now();
  $("#progress-elapsed").textContent = formatElapsed(end - Date.parse(task.created_at));
}

$("#task-cancel").addEventListener("click", async () => {
  if (!detail.id) return;
  await cancelTask(detail.id);
  clearTimeout(detail.timer);
  pollTask(detail.id);
});

// --- webhooks ------------------------------------------------------------------------------------------

async function loadWebhooks() {
  const list = $("#webhook-list");
  let endpoints;
  try {
    endpoints = (await api("/v1/webhooks")).data;
  } catch (error) {
    list.replaceChildren(h("p", { class: "field-error", text: error.message }));
    return;
  }
  list.replaceChildren(...(endpoints.length ? endpoints.map(endpointCard)
    : [h("p", { class: "empty card", text: "No webhook endpoints yet." })]));
}

function endpointCard(endpoint) {
  const rows = h("tbody");
  const more = h("button", { type: "button", class: "small", text: "Older attempts", hidden: true });
  const state = { cursor: null };
  const card = h("section", { class: "card endpoint", dataset: { endpointId: endpoint.id }, "aria-label": endpoint.url },
    h("div", { class: "view-head" },
      h("div", {},
        h("h2", { class: "mono break", text: endpoint.url }),
        h("p", { class: "muted", text: `${endpoint.events.join(", ")} · ${endpoint.id}` }),
        endpoint.disabled ? badge("disabled") : null),
      h("button", {
        type: "button", class: "small danger", text: "Delete", "aria-label": `Delete ${endpoint.url}`,
        onclick: async () => {
          await api(`/v1/webhooks/${encodeURIComponent(endpoint.id)}`, { method: "DELETE" });
          loadWebhooks();
        },
      })),
    h("div", { class: "table-scroll" }, h("table", { class: "attempts" },
      h("caption", { text: "Delivery attempts, newest event first" }),
      h("thead", {}, h("tr", {}, ["Event", "Attempt", "Result", "Time", "Next retry"].map((t) => h("th", { scope: "col", text: t })))),
      rows)),
    more);
  async function page() {
    const result = await api(`/v1/webhooks/${encodeURIComponent(endpoint.id)}/attempts`,
      { query: { limit: 10, cursor: state.cursor } });
    rows.append(...result.data.map((attempt) => h("tr", {},
      h("td", { class: "mono", text: attempt.event_id }),
      h("td", { text: String(attempt.attempt) }),
      h("td", {}, h("span", {
        class: `badge ${attempt.delivered ? "status-completed" : "status-failed"}`,
        text: attempt.status_code ? String(attempt.status_code) : (attempt.error || "no answer"),
      })),
      h("td", { text: formatTime(attempt.attempted_at) }),
      h("td", { text: attempt.next_retry_at ? formatTime(attempt.next_retry_at) : "—" }))));
    if (!rows.children.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No deliveries yet." })));
    state.cursor = result.next_cursor;
    more.hidden = !result.has_more;
  }
  more.addEventListener("click", page);
  page();
  return card;
}

$("#webhook-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const body = { url: form.elements.url.value.trim(), events: $$("input[name=events]:checked", form).map((i) => i.value) };
  try {
    const created = await api("/v1/webhooks", { method: "POST", body });
    $("#webhook-status").textContent = `Added. Signing secret (shown once): ${created.secret}`;
    form.elements.url.value = "";
    loadWebhooks();
  } catch (error) {
    if (!(error instanceof ApiError && showFieldErrors(form, error, null))) $("#webhook-status").textContent = error.message;
  }
});

window.addEventListener("hashchange", route);
route();
