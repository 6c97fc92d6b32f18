// The page's document part: drop a file, send it to /v1/documents, follow its status until it
// is done, then offer the result file for download. Uses page.js's helpers ($, describeFailure,
// languageName, selectedTargets); nothing is fetched from anywhere but this server.
"use strict";

const documentState = { file: null, busy: false };
const POLL_MS = 500;

function documentHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

function documentError(message) {
  const box = $("document-error");
  box.textContent = message;
  box.hidden = !message;
}

function chooseFile(file) {
  documentState.file = file || null;
  $("document-name").textContent = file ? `${file.name} (${numbers.format(file.size)} bytes)` : "";
  $("document-result").hidden = true;
  documentError("");
}

function documentProgress(status) {
  const bar = $("document-progress");
  bar.hidden = false;
  const progress = status.progress;
  if (status.status === "running" && progress && progress.segments_total) {
    bar.value = progress.segments_done / progress.segments_total;
  } else if (status.status === "running" || status.status === "queued") {
    bar.removeAttribute("value"); // indeterminate until the first segments are done
  } else {
    bar.value = 1;
  }
  const parts = progress && status.status === "running"
    ? `: ${numbers.format(progress.segments_done)} of ${numbers.format(progress.segments_total)} segments` : "";
  const eta = status.eta_s ? `, about ${Math.ceil(status.eta_s)} s left` : "";
  const said = { queued: "Waiting for a worker", running: "Working on it", done: "Done" };
  $("document-status").textContent = `${said[status.status] || status.status}${parts}${eta}.`;
}

async function documentFetch(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: documentHeaders() });
  } catch (error) {
    throw new Error(`Could not reach the service: ${error.message}. Is it running?`);
  }
  if (!response.ok) {
    throw new Error(await describeFailure(response));
  }
  return response;
}

async function waitForDocument(location) {
  for (;;) {
    const status = await (await documentFetch(location)).json();
    documentProgress(status);
    if (status.status === "done") return status;
    if (status.status === "failed" || status.status === "cancelled") {
      const why = status.error ? status.error.message : status.status;
      throw new Error(`The document could not be done: ${why}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function offerResult(location, status) {
  const response = await documentFetch(`${location}/result`);
  const blob = await response.blob();
  const link = $("document-download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = status.result.filename;
  link.textContent = `Download ${status.result.filename}`;
  $("document-result").hidden = false;
}

async function sendDocument(event) {
  event.preventDefault();
  if (documentState.busy) return;
  if (!documentState.file) {
    documentError("Choose or drop a file first.");
    return;
  }
  const task = document.querySelector("input[name=document-task]:checked").value;
  const form = new FormData();
  form.append("file", documentState.file, documentState.file.name);
  form.append("task", task);
  if (task === "translate") {
    form.append("target", $("document-target").value);
  } else {
    form.append("translate_to", selectedTargets().join(","));
  }
  documentState.busy = true;
  $("document-run").disabled = true;
  $("document-result").hidden = true;
  documentError("");
  $("document-status").textContent = "Sending the file…";
  try {
    const answer = await documentFetch("/v1/documents", { method: "POST", body: form });
    const location = answer.headers.get("Location");
    const status = await waitForDocument(location);
    await offerResult(location, status);
  } catch (error) {
    $("document-progress").hidden = true;
    $("document-status").textContent = "";
    documentError(error.message);
  } finally {
    documentState.busy = false;
    $("document-run").disabled = false;
  }
}

function watchDropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    chooseFile(event.dataTransfer.files[0]);
  });
  $("document-file").addEventListener("change", (event) => chooseFile(event.target.files[0]));
}

async function startDocuments() {
  $("document-form").addEventListener("submit", sendDocument);
  watchDropZone();
  try {
    const [settings, languages] = await Promise.all([
      (await documentFetch("/frontend/settings")).json(),
      (await documentFetch("/v1/languages")).json(),
    ]);
    $("document-formats").textContent = settings.supportedFilesFormat.join(", ");
    $("document-file").accept = settings.supportedFilesFormat.join(",");
    const targets = [...new Set(languages.pairs.filter((p) => p.source === "en").map((p) => p.target))];
    for (const target of targets) {
      const option = document.createElement("option");
      option.value = target;
      option.textContent = `${languageName(target)} (${target})`;
      $("document-target").append(option);
    }
  } catch (error) {
    documentError(`Could not read what documents this server takes: ${error.message}`);
  }
  document.body.dataset.documentsReady = "true";
}

document.addEventListener("DOMContentLoaded", startDocuments);
