// The hookgate console: every action calls the JSON admin API with the session cookie
// and the page's CSRF token. No framework, no build step.
"use strict";

const POLL_MS = 300;
const RELOAD_SYNCING_MS = 2000;

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function api(method, path, body) {
  const options = {
    method,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken() },
  };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let answer = {};
  try {
    answer = await response.json();
  } catch (_) {
    answer = {};
  }
  return { status: response.status, body: answer };
}

function refusal(answer) {
  return answer.body.detail || answer.body.error || `HTTP ${answer.status}`;
}

function say(element, text, tone) {
  element.textContent = text;
  element.className = element.className.replace(/\b(ok|bad)\b/g, "").trim();
  if (tone) element.classList.add(tone);
  element.hidden = false;
}

function moment(iso) {
  return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function countsText(view) {
  return ["processed", "created", "updated", "unchanged", "deleted", "failed"]
    .map((name) => `${name} ${view["items_" + name]}`)
    .join(" · ");
}

async function connect(provider, tenant, where) {
  const answer = await api("POST", `/admin/connect/${encodeURIComponent(provider)}`, {
    tenant,
    redirect_to: `${window.location.origin}/console`,
  });
  if (answer.status !== 200) {
    say(where, refusal(answer), "bad");
    return;
  }
  window.location.assign(answer.body.authorize_url);
}

let acted = false;

async function test(card, result) {
  const answer = await api("POST", `/admin/sources/${card.dataset.source}/test`);
  if (answer.status !== 200) {
    say(result, refusal(answer), "bad");
    return;
  }
  if (answer.body.ok) {
    const counts = Object.entries(answer.body.counts || {})
      .map(([name, n]) => `${n} ${name}`)
      .join(", ");
    const account = answer.body.account ? answer.body.account.name || answer.body.account.id : "";
    say(result, `OK: ${account} · ${counts} (${answer.body.latency_ms} ms)`, "ok");
    if (account) card.querySelector(".account").textContent = account;
    return;
  }
  say(result, `${answer.body.error}: ${answer.body.detail || ""}`, "bad");
  if (answer.body.error === "unauthorized") window.location.reload();
}

async function sync(card, result) {
  const started = await api("POST", `/admin/sources/${card.dataset.source}/sync`, {
    mode: "full",
  });
  if (started.status !== 202) {
    say(result, refusal(started), "bad");
    return;
  }
  const box = card.querySelector(".progress");
  const bar = box.querySelector("progress");
  const text = box.querySelector(".progress-text");
  bar.removeAttribute("value");
  box.hidden = false;
  for (;;) {
    const view = await api("GET", `/admin/syncs/${started.body.id}`);
    if (view.status !== 200) {
      say(result, refusal(view), "bad");
      return;
    }
    text.textContent = countsText(view.body);
    if (view.body.status !== "running") {
      bar.max = 1;
      bar.value = 1;
      const tone = view.body.status === "completed" ? "ok" : "bad";
      const error = view.body.error ? `: ${view.body.error}` : "";
      say(result, `Sync ${view.body.status}${error}`, tone);
      const finished = view.body.finished_at ? ` · ${moment(view.body.finished_at)}` : "";
      card.querySelector(".last-sync .summary").textContent = view.body.status + finished;
      card.querySelector(".last-sync .counts").textContent = countsText(view.body);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function confirmed(dialog) {
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
    dialog.showModal();
  });
}

async function rotate(card, result) {
  const dialog = document.getElementById("rotate-secret");
  const input = dialog.querySelector('input[name="secret"]');
  input.value = "";
  if (!(await confirmed(dialog)) || !input.value) return;
  const answer = await api("POST", `/admin/sources/${card.dataset.source}/secret`, {
    secret: input.value,
  });
  input.value = "";
  if (answer.status !== 200) {
    say(result, refusal(answer), "bad");
    return;
  }
  const until = answer.body.previous_secret_valid_until;
  const grace = until ? `; the old one works until ${moment(until)}` : "";
  say(result, `Secret rotated${grace}.`, "ok");
}

async function disconnect(card, result) {
  if (!(await confirmed(document.getElementById("confirm-disconnect")))) return;
  const answer = await api("POST", `/admin/sources/${card.dataset.source}/disconnect`);
  if (answer.status !== 200) {
    say(result, refusal(answer), "bad");
    return;
  }
  window.location.reload();
}

const ACTIONS = {
  connect: (card, result) => connect(card.dataset.provider, card.dataset.tenant, result),
  test,
  sync,
  rotate,
  disconnect,
};

function onCardAction(event) {
  const button = event.target.closest("button[data-action]");
  const card = button && button.closest(".card.source");
  if (!card) return;
  const result = card.querySelector(".result");
  button.disabled = true;
  acted = true;
  ACTIONS[button.dataset.action](card, result)
    .catch((problem) => say(result, String(problem), "bad"))
    .finally(() => {
      button.disabled = false;
    });
}

// While a source syncs, the page refreshes itself, until the operator acts on it (a
// refresh would wipe the answer shown).
function reloadWhileSyncing() {
  if (!document.querySelector('.card.source[data-status="syncing"]')) return;
  setTimeout(() => {
    if (!acted) window.location.reload();
  }, RELOAD_SYNCING_MS);
}

// The add-source form, drawn from `GET /admin/providers` (string, boolean, integer fields;
// an optional field's `anyOf: [{type}, {type: "null"}]` counts as its type).
function kindOf(schema) {
  const variant = (schema.anyOf || []).find((v) => v.type !== "null") || schema;
  return variant.type || "string";
}

function field(name, schema, required) {
  const label = document.createElement("label");
  label.textContent = `${schema.title || name} `;
  const input = document.createElement("input");
  input.name = name;
  input.required = required;
  const kind = kindOf(schema);
  if (kind === "boolean") input.type = "checkbox";
  else if (kind === "integer") input.type = "number";
  else if (schema.writeOnly || schema.format === "password") input.type = "password";
  else input.type = "text";
  input.dataset.kind = kind;
  label.appendChild(input);
  return label;
}

function fieldset(legend, schema, group, requireFields) {
  const set = document.createElement("fieldset");
  set.dataset.group = group;
  const title = document.createElement("legend");
  title.textContent = legend;
  set.appendChild(title);
  const required = new Set(requireFields ? (schema && schema.required) || [] : []);
  for (const [name, property] of Object.entries((schema && schema.properties) || {})) {
    set.appendChild(field(name, property, required.has(name)));
  }
  return set;
}

function values(set) {
  const found = {};
  for (const input of set.querySelectorAll("input")) {
    if (input.dataset.kind === "boolean") found[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (input.dataset.kind === "integer") found[input.name] = Number(input.value);
    else found[input.name] = input.value;
  }
  return found;
}

// A provider that takes a signing secret takes it instead of credentials, or with them:
// then no credential field is required.
function drawAddForm(template, form) {
  for (const old of form.querySelectorAll("fieldset, button")) old.remove();
  const signed = (template.auth || []).includes("secret");
  const tenant = { properties: { tenant: { title: "Tenant" } }, required: ["tenant"] };
  const source = fieldset("Source", tenant, "source", true);
  if (signed) {
    source.appendChild(field("signing_secret", { title: "Signing secret", writeOnly: true }, false));
  }
  form.appendChild(source);
  form.appendChild(fieldset("Credentials", template.credentials, "credentials", !signed));
  if (template.options) form.appendChild(fieldset("Options", template.options, "options", true));
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = "Add";
  form.appendChild(submit);
}

async function addSourceForm() {
  const section = document.getElementById("add-source");
  if (!section) return;
  const answer = await api("GET", "/admin/providers");
  if (answer.status !== 200 || !Array.isArray(answer.body.providers)) return;
  const templates = Object.fromEntries(answer.body.providers.map((t) => [t.name, t]));
  const select = section.querySelector("select");
  const form = document.getElementById("add-source-form");
  for (const name of Object.keys(templates)) select.add(new Option(name, name));
  select.addEventListener("change", () => drawAddForm(templates[select.value], form));
  drawAddForm(templates[select.value], form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const source = values(form.querySelector('[data-group="source"]'));
    const credentials = values(form.querySelector('[data-group="credentials"]'));
    const options = form.querySelector('[data-group="options"]');
    const body = { provider: select.value, tenant: source.tenant };
    if (source.signing_secret) body.secret = source.signing_secret;
    if (Object.keys(credentials).length) body.credentials = credentials;
    if (options) body.options = values(options);
    const created = await api("POST", "/admin/sources", body);
    if (created.status === 201) window.location.reload();
    else say(document.getElementById("notice"), refusal(created), "bad");
  });
  section.hidden = false;
}

// The dead letters page: list them, replay one.
function letterCard(letter) {
  const card = document.createElement("article");
  card.className = "card letter";
  card.dataset.letter = letter.id;
  const title = document.createElement("h3");
  title.textContent = `${letter.event_type || "?"} · ${letter.topic}@${letter.offset}`;
  const why = document.createElement("p");
  why.textContent = `${letter.error_class}: ${letter.error}`;
  const when = document.createElement("p");
  when.className = "muted";
  when.textContent = `${moment(letter.failed_at)} · attempts ${letter.attempts}`;
  const result = document.createElement("p");
  result.className = "result";
  const replay = document.createElement("button");
  replay.textContent = "Replay";
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    const answer = await api("POST", `/admin/dead-letters/${letter.id}/replay`);
    replay.disabled = false;
    if (answer.status === 200 && answer.body.replayed) say(result, "Replayed.", "ok");
    else say(result, answer.body.detail || refusal(answer), "bad");
  });
  card.append(title, why, when, result, replay);
  return card;
}

async function deadLetters() {
  const list = document.getElementById("dead-letters");
  if (!list) return;
  const status = document.getElementById("dead-letters-status");
  const answer = await api("GET", "/admin/dead-letters");
  if (answer.status !== 200) {
    say(status, refusal(answer), "bad");
    return;
  }
  const letters = answer.body.dead_letters;
  status.textContent = letters.length ? `${letters.length} waiting for a replay.` : "None waiting.";
  for (const letter of letters) list.appendChild(letterCard(letter));
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("click", onCardAction);
  const form = document.getElementById("connect");
  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      connect(data.get("provider"), data.get("tenant"), document.getElementById("notice"));
    });
  }
  reloadWhileSyncing();
  addSourceForm();
  deadLetters();
});
