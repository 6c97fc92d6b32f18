// The page's behaviour: read the server's choices and limits, call the /v1 API, show results
// and every error. Plain JavaScript, no library, nothing fetched from anywhere but this server.
"use strict";

const RTL_LANGUAGES = new Set(["ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"]);
const names = new Intl.DisplayNames(["en"], { type: "language" });
const numbers = new Intl.NumberFormat("en");

const state = { maxChars: null, busy: false, progress: "" };

function $(id) {
  return document.getElementById(id);
}

function languageName(code) {
  try {
    return names.of(code) || code;
  } catch {
    return code;
  }
}

function direction(code) {
  return RTL_LANGUAGES.has(code.split("-")[0]) ? "rtl" : "ltr";
}

// Characters as the server counts them (code points, not UTF-16 units).
function charCount(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  const box = $("error");
  box.textContent = "";
  box.hidden = true;
}

function updateCount() {
  const count = charCount($("article").value);
  const note = $("char-count");
  const input = $("article");
  if (state.maxChars === null) {
    note.textContent = `${numbers.format(count)} characters`;
    return;
  }
  const over = count - state.maxChars;
  note.textContent = `${numbers.format(count)} / ${numbers.format(state.maxChars)} characters`
    + (over > 0 ? `: ${numbers.format(over)} over the server's limit` : "");
  note.classList.toggle("over", over > 0);
  input.setAttribute("aria-invalid", over > 0 ? "true" : "false");
}

// What the server says went wrong, as a sentence a person can act on. `response` is a fetch
// Response that is not ok; the API's errors are {"error": {"code", "message", "field"}}.
async function describeFailure(response) {
  let code = "";
  let message = response.statusText || "no details";
  try {
    const body = await response.json();
    if (body && body.error && typeof body.error === "object") {
      code = body.error.code || "";
      message = body.error.message || message;
    } else if (body && typeof body.error === "string") {
      message = body.error;
    }
  } catch {
    // Not JSON (e.g. a proxy's HTML page): the status says enough.
  }
  return explain(response.status, code, message, response.headers.get("Retry-After"));
}

// An API error (its status, code, message and any Retry-After) as a sentence.
function explain(status, code, message, retry) {
  const retryText = retry ? ` Try again in ${retry} s.` : " Try again shortly.";
  if (status === 413) {
    const limit = state.maxChars === null ? "" : ` of ${numbers.format(state.maxChars)} characters`;
    return `Too long (413): ${message}. Shorten the article to the limit${limit}.`;
  }
  if (status === 503) {
    if (code === "model_unavailable") {
      return `The models are not ready (503): ${message}.${retryText}`;
    }
    if (code === "out_of_memory") {
      return `Too big for the server's memory (503): ${message}. Try a shorter article.`;
    }
    return `The service is busy (503): ${message}.${retryText}`;
  }
  if (status === 504) {
    return `The models did not finish in time (504): ${message}. `
      + "Try a shorter article, or again when the service is less busy.";
  }
  if (status === 400) {
    return `The request was refused (400): ${message}.`;
  }
  if (status === 415 || status === 422) {
    return `The page at the link could not be read (${status}): ${message}.`;
  }
  if (status === 401 || status === 403) {
    return `This service needs an API key (${status}): ${message}. Enter your key above.`;
  }
  if (status === 429) {
    return `Rate limit reached (429): ${message}.${retryText}`;
  }
  if (status >= 500) {
    return `The service failed (${status}): ${message}.`;
  }
  return `The request was refused (${status}): ${message}.`;
}

function requestHeaders(accept) {
  const headers = { "Content-Type": "application/json", Accept: accept };
  const key = $("api-key").value.trim();
  if (key) {
    headers["X-API-Key"] = key;
  }
  return headers;
}

async function send(path, body, accept) {
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: requestHeaders(accept), body: JSON.stringify(body) });
  } catch (error) {
    throw new Error(`Could not reach the service: ${error.message}. Is it running?`);
  }
  if (!response.ok) {
    throw new Error(await describeFailure(response));
  }
  return response;
}

async function postJson(path, body) {
  return (await send(path, body, "application/json")).json();
}

// POST asking for Server-Sent Events (see the API docs): each `progress` or `partial` event to
// `onProgress`, and the answer of the final event (`final`); an `error` event is thrown as the
// same sentence as a JSON error. An answer that is plain JSON is taken as the answer.
async function postStreamed(path, body, final, onProgress) {
  const response = await send(path, body, "text/event-stream");
  if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    return response.json();
  }
  return readEvents(response, final, (event) => onProgress(event.name, event.data),
    "The service ended the answer early. Try again.");
}

// Read an event stream: each event to `onEvent` until the one named `final`, whose data it
// returns; an `error` event is thrown as the same sentence as a JSON error, and a stream that
// ends before `final` as `endedEarly`.
async function readEvents(response, final, onEvent, endedEarly) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffered.slice(0, end));
      buffered = buffered.slice(end + 2);
      if (event.name === final) return event.data;
      if (event.name === "error") {
        const error = event.data.error || {};
        throw new Error(explain(event.data.status, error.code || "", error.message || "no details", null));
      }
      onEvent(event);
    }
  }
  throw new Error(endedEarly);
}

function parseEvent(block) {
  const fields = {};
  for (const line of block.split("\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
  }
  return { name: fields.event, data: JSON.parse(fields.data || "null") };
}

// "chunk k of n" while the summary is made: chunks done of chunks, and a progress bar.
function showProgress(data) {
  const bar = $("progress");
  bar.max = data.chunks;
  bar.value = data.done;
  bar.hidden = false;
  const what = data.round > 1 ? "Combining the chunk summaries" : "Summarising";
  state.progress = data.chunks > 1 || data.round > 1
    ? `${what}: chunk ${data.done} of ${data.chunks} done`
    : "Summarising";
}

function copyText(text, button) {
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => showError("Copying was refused by the browser; select the text and copy it."));
    return;
  }
  showError("This browser does not allow copying here; select the text and copy it.");
}

// `text` is a string, or a list of bullet points (shown as a list, copied one a line).
function addOutput(title, text, testid, lang) {
  const bullets = Array.isArray(text);
  const copied = bullets ? text.join("\n") : text;
  const card = document.createElement("article");
  card.className = "output";
  const heading = document.createElement("h3");
  const label = document.createElement("span");
  label.textContent = title;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  button.setAttribute("aria-label", `Copy the ${title.toLowerCase()}`);
  button.addEventListener("click", () => copyText(copied, button));
  heading.append(label, button);
  const body = document.createElement(bullets ? "ul" : "p");
  body.className = "text";
  body.lang = lang;
  body.dir = direction(lang);
  body.dataset.testid = testid;
  if (bullets) {
    for (const point of text) {
      const item = document.createElement("li");
      item.textContent = point;
      body.append(item);
    }
  } else {
    body.textContent = text;
  }
  card.append(heading, body);
  $("outputs").append(card);
}

function selectedTargets() {
  return [...document.querySelectorAll("#targets input:checked")].map((box) => box.value);
}

function setBusy(busy) {
  state.busy = busy;
  const button = $("run");
  button.disabled = busy;
  button.textContent = busy ? "Working…" : "Run";
  $("results").setAttribute("aria-busy", busy ? "true" : "false");
}

// What was read and how long it takes to read, above the results.
function showSource(answer) {
  const info = $("source-info");
  const parts = [];
  const found = answer.extracted;
  if (found) {
    if (found.title) parts.push(`“${found.title}”`);
    if (found.byline) parts.push(`by ${found.byline}`);
    if (found.published) parts.push(found.published);
    if (found.source_url) parts.push(`from ${found.source_url}`);
    parts.push(`${numbers.format(found.characters)} characters read`);
  }
  const reading = answer.reading_minutes;
  if (reading) {
    parts.push(`reading time: ${reading.article} min for the article, ${reading.summary} min for the summary`);
  }
  info.textContent = parts.join(" · ");
  info.hidden = parts.length === 0;
}

async function run(event) {
  event.preventDefault();
  if (state.busy) return;
  clearError();
  $("outputs").replaceChildren();
  $("results").hidden = true;
  $("source-info").hidden = true;
  const text = $("article").value;
  const url = $("article-url").value.trim();
  const source = url ? { url } : { text };
  const style = $("bullets").checked ? { style: "bullets" } : {};
  const mode = document.querySelector("input[name=mode]:checked").value;
  const targets = selectedTargets();
  const length = $("length").value;
  if (!url && !text.trim()) {
    showError("Paste or type an article, or give a link to one, first.");
    $("article").focus();
    return;
  }
  if (mode === "translate" && targets.length === 0) {
    showError("Choose at least one language to translate into.");
    return;
  }
  const started = performance.now();
  const status = $("status");
  state.progress = "Working";
  $("progress").hidden = true;
  const tick = () => {
    status.textContent = `${state.progress}… ${((performance.now() - started) / 1000).toFixed(1)} s`;
  };
  const onProgress = (_name, data) => {
    showProgress(data);
    tick();
  };
  tick();
  const timer = setInterval(tick, 100);
  setBusy(true);
  const failures = [];
  try {
    const options = length ? { length } : {};
    if (mode === "article") {
      const body = { ...source, translate_to: targets, ...options, ...style };
      const answer = await postStreamed("/v1/articles", body, "article", onProgress);
      showSource(answer);
      addOutput("Summary", answer.bullets || answer.summary, "summary-output", "en");
      const bullets = answer.translated_bullets || {};
      for (const target of targets) {
        addOutput(`${languageName(target)} translation`, bullets[target] || answer.translations[target], `translation-${target}`, target);
      }
    } else if (mode === "summary") {
      const body = { ...source, ...options, ...style };
      const answer = await postStreamed("/v1/summarize", body, "summary", onProgress);
      showSource(answer);
      addOutput("Summary", answer.bullets || answer.summary, "summary-output", "en");
    } else {
      const answers = await Promise.allSettled(
        targets.map((target) => postJson("/v1/translate", { ...source, target })),
      );
      answers.forEach((answer, i) => {
        const target = targets[i];
        if (answer.status === "fulfilled") {
          addOutput(`${languageName(target)} translation`, answer.value.translation, `translation-${target}`, target);
        } else {
          failures.push(`${languageName(target)}: ${answer.reason.message}`);
        }
      });
    }
  } catch (error) {
    failures.push(error.message);
  } finally {
    clearInterval(timer);
    setBusy(false);
    $("progress").hidden = true;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (failures.length) {
    showError(failures.join("\n"));
    status.textContent = `Failed after ${seconds} s.`;
  } else {
    status.textContent = `Done in ${seconds} s.`;
  }
  if ($("outputs").children.length) {
    $("results").hidden = false;
  }
}

async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) {
    throw new Error(`${path}: ${await describeFailure(response)}`);
  }
  return response.json();
}

function showTargets(pairs) {
  const fieldset = $("targets");
  $("targets-loading").remove();
  const targets = [...new Set(pairs.filter((p) => p.source === "en").map((p) => p.target))];
  if (!targets.length) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = "This server translates from English into no language.";
    fieldset.append(note);
  }
  for (const target of targets) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "target";
    box.value = target;
    box.checked = true;
    box.dataset.testid = `target-${target}`;
    label.append(box, ` ${languageName(target)} (${target})`);
    fieldset.append(label);
  }
}

function showLimits(spec) {
  const article = spec.components.schemas.ArticleRequest.properties;
  const textSchemas = article.text.anyOf || [article.text];
  state.maxChars = textSchemas.map((schema) => schema.maxLength).find((n) => n !== undefined) ?? null;
  const presets = (article.length.anyOf || [article.length]).flatMap((s) => s.enum || []);
  const select = $("length");
  for (const preset of presets) {
    const option = document.createElement("option");
    option.value = preset;
    option.textContent = preset[0].toUpperCase() + preset.slice(1);
    select.append(option);
  }
  if (presets.includes("short")) select.value = "short";
  updateCount();
}

function showMode() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  $("length").disabled = mode === "translate";
  $("bullets").disabled = mode === "translate";
  for (const box of document.querySelectorAll("#targets input")) {
    box.disabled = mode === "summary";
  }
}

// The query string of an archive's job: the task and options chosen in the form above.
function jobQuery() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  const query = new URLSearchParams();
  const length = $("length").value;
  if (mode === "translate") {
    const target = selectedTargets()[0];
    if (!target) throw new Error("Choose a language to translate into.");
    query.set("task", "translate");
    query.set("target", target);
    return query;
  }
  query.set("task", mode === "article" ? "article" : "summarize");
  if (mode === "article" && selectedTargets().length) {
    query.set("translate_to", selectedTargets().join(","));
  }
  if (length) query.set("length", length);
  if ($("bullets").checked) query.set("style", "bullets");
  return query;
}

// Read a job's Server-Sent Events (GET, with the key if one is given) until `finished`; each
// `progress` to `onProgress`. Its final status.
async function followJob(location, onProgress) {
  const headers = requestHeaders("text/event-stream");
  delete headers["Content-Type"];
  const response = await fetch(`${location}/events`, { headers });
  if (!response.ok) throw new Error(await describeFailure(response));
  return readEvents(response, "finished", (event) => onProgress(event.data),
    "The progress stream ended early; the job goes on: reload to follow it.");
}

function showJob(job) {
  const bar = $("archive-progress");
  bar.max = job.total;
  bar.value = job.done + job.failed;
  bar.hidden = false;
  const failed = job.failed ? ` (${numbers.format(job.failed)} failed)` : "";
  const left = job.eta_s === null || job.eta_s === 0 ? "" : `, about ${Math.ceil(job.eta_s)} s left`;
  $("archive-status").textContent = `${job.status}: ${numbers.format(job.done + job.failed)} of `
    + `${numbers.format(job.total)} done${failed}${left}`;
}

async function runArchive(event) {
  event.preventDefault();
  clearError();
  const file = $("archive-file").files[0];
  const link = $("archive-download");
  link.hidden = true;
  if (!file) {
    showError("Choose a .jsonl file of articles first.");
    return;
  }
  const button = $("archive-run");
  button.disabled = true;
  try {
    const headers = requestHeaders("application/json");
    headers["Content-Type"] = "application/x-ndjson";
    let response;
    try {
      response = await fetch(`/v1/jobs?${jobQuery()}`, { method: "POST", headers, body: file });
    } catch (error) {
      throw new Error(`Could not reach the service: ${error.message}. Is it running?`);
    }
    if (!response.ok) throw new Error(await describeFailure(response));
    const location = response.headers.get("Location");
    showJob({ ...(await response.json()), done: 0, failed: 0, eta_s: null });
    const job = await followJob(location, showJob);
    showJob(job);
    const download = requestHeaders("application/x-ndjson");
    delete download["Content-Type"];
    const results = await fetch(`${location}/results`, { headers: download });
    if (!results.ok) throw new Error(await describeFailure(results));
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(await results.blob());
    link.hidden = false;
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  $("article-form").addEventListener("submit", run);
  $("archive-form").addEventListener("submit", runArchive);
  $("article").addEventListener("input", updateCount);
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", showMode);
  }
  updateCount();
  const [spec, languages] = await Promise.allSettled([
    getJson("/openapi.json"),
    getJson("/v1/languages"),
  ]);
  if (spec.status === "fulfilled") {
    showLimits(spec.value);
  } else {
    showError(`Could not read the server's limits: ${spec.reason.message}`);
  }
  if (languages.status === "fulfilled") {
    showTargets(languages.value.pairs);
  } else {
    showError(`Could not read the languages served: ${languages.reason.message}`);
  }
  showMode();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
