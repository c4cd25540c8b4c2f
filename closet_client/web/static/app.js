// The demo page: pick a photo, a target and a style, POST them to this app's /api/swap, show the answer.
// Targets and option controls come from /api/config (the API's describe and openapi/closet.yaml).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, photoName: "", maxBytes: 0, beforeUrl: null };
const OVERLAYS = { person: [40, 120, 255], garment: [255, 40, 160] };  // RGB of each mask's tint
const POSE_COLOUR = "rgb(255, 220, 0)";
const MIN_VISIBILITY = 0.5;  // keypoints the pose model is less sure of are not drawn
// The BlazePose skeleton (MediaPipe's landmark numbering): shoulders, arms, torso, legs.
const BONES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
  [23, 25], [25, 27], [24, 26], [26, 28]];
const OVERLAY_ALPHA = 0.45;

function showStatus(text) { $("status").textContent = text; }

function showError(body, status) {
  $("error-message").textContent = (body && (body.message || body.error)) || `The server answered HTTP ${status}.`;
  $("error-reason").textContent = (body && body.reason) || String(status);
  $("error").hidden = false;
}

function clearError() { $("error").hidden = true; $("error-message").textContent = ""; }

async function fetchJson(url, init) {
  const r = await fetch(url, init);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { ok: r.ok, status: r.status, body };
}

// One control per option the API declares; each control's name is the API field name.
function optionControl(opt) {
  const label = document.createElement("label");
  label.title = opt.help || "";
  if (opt.kind === "bool") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = opt.name;
    box.dataset.kind = "bool";
    box.checked = opt.default !== "false";
    label.append(box, " " + opt.label);
    return label;
  }
  let input;
  if (opt.kind === "choice") {
    input = document.createElement("select");
    if (opt.default === null) input.append(new Option("(server default)", ""));
    for (const c of opt.choices) input.append(new Option(c, c, c === opt.default, c === opt.default));
  } else {
    input = document.createElement("input");
    input.type = "text";
    input.placeholder = opt.default === null ? "(server default)" : opt.default;
  }
  input.name = opt.name;
  label.append(opt.label + " ", input);
  return label;
}

function setPhoto(blob, name) {
  state.photo = blob;
  state.photoName = name;
  $("photo-name").textContent = name ? `Photo: ${name}` : "";
  $("swap").disabled = !blob;
}

async function pickSample(sample, button) {
  clearError();
  const r = await fetch(sample.url);
  if (!r.ok) { showError(null, r.status); return; }
  setPhoto(await r.blob(), sample.label);
  $("photo").value = "";
  for (const b of $("samples").children) b.setAttribute("aria-pressed", String(b === button));
}

async function loadConfig() {
  const { ok, status, body } = await fetchJson("api/config");
  if (!ok) { showError(body, status); return; }
  state.maxBytes = body.max_request_size;
  const target = $("target");
  for (const t of body.targets) target.append(new Option(t, t));
  for (const opt of body.options) $("options").append(optionControl(opt));
  for (const s of body.samples) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.sample = s.name;
    b.setAttribute("aria-pressed", "false");
    const img = document.createElement("img");
    img.src = s.url;
    img.alt = s.label;
    const cap = document.createElement("span");
    cap.textContent = s.label.split(" (")[0];
    b.append(img, cap);
    b.addEventListener("click", () => pickSample(s, b));
    $("samples").append(b);
  }
}

function formData() {
  const fd = new FormData();
  fd.append("image", state.photo, state.photoName || "photo");
  fd.append("target", $("target").value);
  const style = document.querySelector("input[name=style]:checked").value;
  if (style === "reference") {
    const ref = $("reference").files[0];
    if (!ref) throw new Error("Choose a style image, or pick the random style.");
    fd.append("reference", ref, ref.name);
  } else {
    fd.append("seed", $("seed").value || "0");
  }
  for (const el of $("options").querySelectorAll("[name]")) {
    if (el.dataset.kind === "bool") fd.append(el.name, el.checked ? "true" : "false");
    else if (el.value !== "") fd.append(el.name, el.value);
  }
  return fd;
}

function decodeImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("cannot decode " + src.slice(0, 30)));
    img.src = src;
  });
}

// Tint a mask (8-bit PNG, 255 = inside) into a translucent overlay canvas.
async function drawMask(canvas, b64, rgb) {
  const mask = await decodeImage("data:image/png;base64," + b64);
  canvas.width = mask.naturalWidth;
  canvas.height = mask.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(mask, 0, 0);
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = px.data;
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i] * OVERLAY_ALPHA;
    d[i] = rgb[0]; d[i + 1] = rgb[1]; d[i + 2] = rgb[2]; d[i + 3] = a;
  }
  ctx.putImageData(px, 0, 0);
}

// Each person's visible keypoints and skeleton, in image pixels, on a canvas the photo's size.
function drawPose(canvas, people, width, height) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const r = Math.max(2, Math.round(Math.max(width, height) / 160));
  ctx.strokeStyle = ctx.fillStyle = POSE_COLOUR;
  ctx.lineWidth = Math.max(1, r / 2);
  for (const person of people || []) {
    const k = person.keypoints;
    if (!k) continue;
    const seen = (i) => k[i] && k[i][3] >= MIN_VISIBILITY;
    for (const [a, b] of BONES) {
      if (!seen(a) || !seen(b)) continue;
      ctx.beginPath(); ctx.moveTo(k[a][0], k[a][1]); ctx.lineTo(k[b][0], k[b][1]); ctx.stroke();
    }
    k.forEach((p, i) => {
      if (!seen(i)) return;
      ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI); ctx.fill();
    });
  }
}

function fact(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dd.dataset.fact = name;
  dl.append(dt, dd);
}

async function showResult(res) {
  const afterUrl = `data:${res.content_type};base64,${res.image}`;
  if (state.beforeUrl) URL.revokeObjectURL(state.beforeUrl);
  state.beforeUrl = URL.createObjectURL(state.photo);
  await Promise.all([decodeImage(afterUrl), decodeImage(state.beforeUrl)]);
  $("before").src = state.beforeUrl;
  $("after").src = afterUrl;
  await drawMask($("person-overlay"), res.person_mask, OVERLAYS.person);
  await drawMask($("garment-overlay"), res.garment_mask, OVERLAYS.garment);
  $("person-overlay").hidden = !$("show-person").checked;
  $("garment-overlay").hidden = !$("show-garment").checked;
  drawPose($("pose-overlay"), res.people, res.width, res.height);
  $("pose-overlay").hidden = !$("show-pose").checked;
  const dl = $("facts");
  dl.replaceChildren();
  fact(dl, "parser", res.parser);
  fact(dl, "target", res.target);
  fact(dl, "style", res.mode === "latent" ? `random, seed ${res.seed}` : "reference image");
  fact(dl, "colours", res.preserve_color ? "kept from the photo" : "from the generator");
  fact(dl, "size", `${res.width} x ${res.height}`);
  fact(dl, "people swapped", String((res.people || []).length));
  const rows = $("timings").tBodies[0];
  rows.replaceChildren();
  let total = 0;
  for (const [stage, seconds] of Object.entries(res.timings)) {
    total += seconds;
    rows.insertRow().append(...[stage, seconds.toFixed(3)].map((t) => Object.assign(document.createElement("td"), { textContent: t })));
  }
  const tr = rows.insertRow();
  tr.append(...["total", total.toFixed(3)].map((t) => Object.assign(document.createElement("td"), { textContent: t })));
  const ext = res.content_type.split("/")[1];
  $("download").href = afterUrl;
  $("download").download = `closet-${res.target}.${ext}`;
  $("result").hidden = false;
}

async function onSubmit(event) {
  event.preventDefault();
  clearError();
  if (!state.photo) { showError({ message: "Choose a photo or one of the samples first.", reason: "no photo" }, 0); return; }
  if (state.maxBytes && state.photo.size > state.maxBytes) {
    const mib = (state.maxBytes / 1048576).toFixed(0);
    showError({ message: `The photo is too large: at most ${mib} MiB per request.`, reason: "too_large" }, 413);
    return;
  }
  let fd;
  try { fd = formData(); } catch (e) { showError({ message: e.message, reason: "no style image" }, 0); return; }
  $("swap").disabled = true;
  $("result").setAttribute("aria-busy", "true");
  showStatus("Swapping... (a few seconds on a CPU)");
  const t0 = performance.now();
  try {
    const { ok, status, body } = await fetchJson("api/swap", { method: "POST", body: fd });
    if (!ok) { showError(body, status); showStatus(""); return; }
    await showResult(body);
    showStatus(`Done in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
  } catch (e) {
    showError({ message: `The page could not reach its server (${e.message}).`, reason: "network" }, 0);
    showStatus("");
  } finally {
    $("swap").disabled = !state.photo;
    $("result").removeAttribute("aria-busy");
  }
}

function init() {
  $("photo").addEventListener("change", () => {
    clearError();
    const f = $("photo").files[0];
    for (const b of $("samples").children) b.setAttribute("aria-pressed", "false");
    setPhoto(f || null, f ? f.name : "");
  });
  $("reference").addEventListener("change", () => {
    if ($("reference").files[0]) document.querySelector("input[name=style][value=reference]").checked = true;
  });
  $("slider").addEventListener("input", () => $("compare").style.setProperty("--split", `${$("slider").value}%`));
  $("show-person").addEventListener("change", () => { $("person-overlay").hidden = !$("show-person").checked; });
  $("show-garment").addEventListener("change", () => { $("garment-overlay").hidden = !$("show-garment").checked; });
  $("show-pose").addEventListener("change", () => { $("pose-overlay").hidden = !$("show-pose").checked; });
  $("swap-form").addEventListener("submit", onSubmit);
  loadConfig();
}

document.addEventListener("DOMContentLoaded", init);
