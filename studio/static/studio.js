// The design studio page: pose (preset, dragged joints or uploaded JSON), a texture per region, options →
// POST /api/designs, then poll the job and fill the variants × views grid as results arrive. Plain JS, no build.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const state = { info: null, poses: {}, limbs: [], preset: null, joints: null, side: 256, edited: false,
                upload: null, textures: {}, job: null, timer: null };

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

// ---------------------------------------------------------------------------------------------------- pose
function drawSkeleton() {
  const svg = $("skeleton");
  svg.setAttribute("viewBox", `0 0 ${state.side} ${state.side}`);
  svg.replaceChildren();
  const joints = state.joints || [];
  const shown = (j) => joints[j] && joints[j][2] > 0;
  for (const [a, b] of state.limbs) {
    if (!shown(a) || !shown(b)) continue;
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", joints[a][0]); line.setAttribute("y1", joints[a][1]);
    line.setAttribute("x2", joints[b][0]); line.setAttribute("y2", joints[b][1]);
    line.setAttribute("class", "limb");
    svg.appendChild(line);
  }
  joints.forEach((joint, index) => {
    if (!shown(index)) return;
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", joint[0]); dot.setAttribute("cy", joint[1]);
    dot.setAttribute("r", state.side / 64);
    dot.setAttribute("class", "joint");
    dot.dataset.joint = index;
    dot.addEventListener("pointerdown", (event) => startDrag(event, index));
    svg.appendChild(dot);
  });
}

function startDrag(event, index) {
  const svg = $("skeleton");
  event.preventDefault();
  const move = (e) => {
    const point = svg.createSVGPoint();
    point.x = e.clientX; point.y = e.clientY;
    const local = point.matrixTransform(svg.getScreenCTM().inverse());
    state.joints[index] = [Math.max(0, Math.min(state.side, local.x)), Math.max(0, Math.min(state.side, local.y)), 1];
    state.edited = true; state.upload = null;
    $("pose-source").textContent = `${state.preset} (edited)`;
    drawSkeleton();
  };
  const stop = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", stop); };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", stop);
}

function choosePreset(name) {
  const preset = state.poses[name];
  state.preset = name; state.edited = false; state.upload = null;
  state.side = preset.side;
  state.joints = Object.values(preset.views)[0].map((j) => j.slice());
  $("pose-source").textContent = preset.description || "";
  $("views").max = Object.keys(preset.views).length;
  drawSkeleton();
}

function jointsFromUpload(data) {
  // For the picture only (the server reads every format): OpenPose people[0].pose_keypoints_2d, or PAINT {"0": [x, y]}.
  const flat = data && data.people && data.people[0] && data.people[0].pose_keypoints_2d;
  if (Array.isArray(flat) && flat.length >= 54) {
    return Array.from({ length: 18 }, (_, j) => flat.slice(3 * j, 3 * j + 3));
  }
  if (data && typeof data === "object" && "0" in data) {
    return Array.from({ length: 18 }, (_, j) => (data[String(j)] ? [data[j][0], data[j][1], 1] : [0, 0, 0]));
  }
  return null;
}

async function uploadPose(file) {
  showError("");
  try {
    const data = JSON.parse(await file.text());
    state.upload = data; state.edited = false;
    const joints = jointsFromUpload(data);
    const width = Number($("pose-width").value), height = Number($("pose-height").value);
    state.side = Math.max(width, height);
    state.joints = joints && joints.map(([x, y, c]) => [x + (state.side - width) / 2, y + (state.side - height) / 2, c]);
    $("pose-source").textContent = `uploaded: ${file.name}${joints ? "" : " (drawn by the server only)"}`;
    drawSkeleton();
  } catch (error) {
    showError(`pose file ${file.name}: not JSON (${error.message})`);
  }
}

function posePayload() {
  if (state.upload) {
    return { pose: state.upload, pose_canvas: [Number($("pose-height").value), Number($("pose-width").value)] };
  }
  if (!state.edited) return { pose: state.preset };
  return { pose: { people: [{ pose_keypoints_2d: state.joints.flat() }] }, pose_canvas: [state.side, state.side] };
}

// ------------------------------------------------------------------------------------------------ textures
function regionBox(region) {
  const box = document.createElement("div");
  box.className = "region";
  box.innerHTML = `<h3>${region}</h3><div class="region-body"><canvas width="120" height="90"></canvas>
    <div class="region-side"><canvas class="patch" width="40" height="40" title="the centre cut"></canvas>
    <input type="file" accept="image/*" data-region="${region}"><button type="button" class="clear">Clear</button>
    </div></div><span class="muted note">no texture: plain rendering</span>`;
  const input = box.querySelector("input");
  input.addEventListener("change", () => input.files[0] && setTexture(region, input.files[0], box));
  box.addEventListener("dragover", (e) => { e.preventDefault(); box.classList.add("over"); });
  box.addEventListener("dragleave", () => box.classList.remove("over"));
  box.addEventListener("drop", (e) => {
    e.preventDefault(); box.classList.remove("over");
    if (e.dataTransfer.files[0]) setTexture(region, e.dataTransfer.files[0], box);
  });
  box.querySelector(".clear").addEventListener("click", () => {
    delete state.textures[region]; input.value = "";
    box.querySelectorAll("canvas").forEach((c) => c.getContext("2d").clearRect(0, 0, c.width, c.height));
    box.querySelector(".note").textContent = "no texture: plain rendering";
  });
  return box;
}

function setTexture(region, file, box) {
  const reader = new FileReader();
  reader.onload = () => {
    state.textures[region] = reader.result;
    box.querySelector(".note").textContent = `${file.name} · ${(file.size / 1024).toFixed(1)} KiB`;
    const image = new Image();
    image.onload = () => preview(box, image);
    image.onerror = () => { box.querySelector(".note").textContent += " (no preview; the server will decide)"; };
    image.src = reader.result;
  };
  reader.readAsDataURL(file);
}

function preview(box, image) {
  // The photo, and the centre square the patch is cut from (the garment's box decides the exact size later).
  const [photo, patch] = box.querySelectorAll("canvas");
  const scale = Math.min(photo.width / image.width, photo.height / image.height);
  const w = image.width * scale, h = image.height * scale, x = (photo.width - w) / 2, y = (photo.height - h) / 2;
  const context = photo.getContext("2d");
  context.clearRect(0, 0, photo.width, photo.height);
  context.drawImage(image, x, y, w, h);
  const side = Math.min(image.width, image.height);
  const sx = (image.width - side) / 2, sy = (image.height - side) / 2;
  context.strokeStyle = "#ff2d6f"; context.lineWidth = 2;
  context.strokeRect(x + sx * scale, y + sy * scale, side * scale, side * scale);
  const cut = patch.getContext("2d");
  cut.clearRect(0, 0, patch.width, patch.height);
  cut.drawImage(image, sx, sy, side, side, 0, 0, patch.width, patch.height);
}

// ------------------------------------------------------------------------------------------------- designs
async function generate() {
  showError("");
  if (!Object.keys(state.textures).length) { showError("drop a texture photo on at least one region"); return; }
  const body = { ...posePayload(), textures: state.textures, variants: Number($("variants").value),
                 views: Number($("views").value), seed: Number($("seed").value) };
  $("generate").disabled = true;
  $("downloads").hidden = true;     // the previous design's links go at once, before the new job exists
  try {
    const job = await api("/api/designs", { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify(body) });
    startGrid(job.id, body.variants, body.views);
    poll();
  } catch (error) {
    showError(error.message);
    $("generate").disabled = false;
  }
}

function startGrid(id, variants, views) {
  state.job = { id, variants, views, shown: new Set() };
  $("empty").hidden = true; $("downloads").hidden = true;
  $("progress-box").hidden = false; $("progress").max = variants; $("progress").value = 0;
  $("progress-text").textContent = "queued…";
  $("grid").replaceChildren();
  for (let k = 0; k < variants; k++) {
    const row = $("grid").insertRow();
    row.insertCell().outerHTML = `<th>variant ${k}<br><span class="muted" id="seed-${k}"></span></th>`;
    for (let v = 0; v < views; v++) row.insertCell().className = "pending";
  }
}

async function poll() {
  const job = state.job;
  let status;
  try {
    status = await api(`/api/designs/${job.id}`);
  } catch (error) {
    showError(error.message); $("generate").disabled = false; return;
  }
  status.variants.forEach((variant, k) => {
    if (!variant || job.shown.has(k)) return;
    job.shown.add(k);
    $(`seed-${k}`).textContent = `code seed ${variant.code_seed}`;
    Object.entries(variant.images).forEach(([view, file], v) => {
      const cell = $("grid").rows[k].cells[v + 1];
      cell.className = "";
      cell.innerHTML = `<img class="result" alt="variant ${k} ${view}" title="variant ${k} · ${view}"
        src="${status.urls[file]}" data-variant="${k}"><div class="muted">${view}</div>`;
      cell.querySelector("img").addEventListener("click", () => enlarge(k));
    });
  });
  $("progress").value = status.done;
  $("progress-text").textContent = `${status.done} of ${status.total} variants · ${status.elapsed_s.toFixed(1)} s`
    + ` · seed ${status.request.seed}`;
  job.status = status;
  if (status.state === "done") {
    $("zip").href = status.urls[status.zip];
    $("sheet").href = status.urls[status.sheet];
    $("downloads").hidden = false;
    $("generate").disabled = false;
    $("progress-text").textContent += " · done";
  } else if (status.state === "failed") {
    showError(status.error); $("generate").disabled = false;
  } else {
    state.timer = setTimeout(poll, 300);
  }
}

function enlarge(k) {
  const status = state.job.status, variant = status.variants[k];
  $("lightbox-title").textContent = `variant ${k} · seed ${status.request.seed} · code seed ${variant.code_seed}`;
  $("lightbox-images").replaceChildren(...Object.entries(variant.images).map(([view, file]) => {
    const figure = document.createElement("figure");
    figure.innerHTML = `<img src="${status.urls[file]}" alt="${view}"><figcaption>${view}</figcaption>`;
    return figure;
  }));
  // once the design is written, the patches TSN received are files too: show them beside the views
  for (const region of state.info.regions) {
    const file = `variant${k}_patch_${region}.png`;
    if (!status.urls[file]) continue;
    const figure = document.createElement("figure");
    figure.innerHTML = `<img class="patch" src="${status.urls[file]}" alt="patch ${region}">
      <figcaption>patch used for ${region}</figcaption>`;
    $("lightbox-images").appendChild(figure);
  }
  $("lightbox-note").textContent = "Same seed and inputs give the same design. Patches: "
    + Object.entries(variant.patches || {}).map(([r, n]) => `${r}: ${typeof n === "string" ? n : JSON.stringify(n)}`)
      .join("; ");
  $("lightbox").hidden = false;
}

// ---------------------------------------------------------------------------------------------------- start
async function start() {
  try {
    const [info, poses] = await Promise.all([api("/api/info"), api("/api/poses")]);
    state.info = info; state.poses = poses.presets; state.limbs = poses.limbs;
    $("model-info").textContent = `${info.resolution} px models on ${info.device} · steps `
      + Object.entries(info.checkpoints).map(([s, c]) => `${s} ${c.step}`).join(", ");
    $("variants").max = info.limits.max_variants;
    for (const name of Object.keys(state.poses)) $("pose-preset").add(new Option(name, name));
    $("regions").replaceChildren(...info.regions.map(regionBox));
    const first = "standing" in state.poses ? "standing" : Object.keys(state.poses)[0];
    $("pose-preset").value = first;
    choosePreset(first);
  } catch (error) {
    showError(`the studio cannot start: ${error.message}`);
  }
  $("pose-preset").addEventListener("change", (e) => choosePreset(e.target.value));
  $("pose-reset").addEventListener("click", () => choosePreset(state.preset));
  $("pose-file").addEventListener("change", (e) => e.target.files[0] && uploadPose(e.target.files[0]));
  $("seed-random").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 1e9); });
  $("generate").addEventListener("click", generate);
  $("lightbox-close").addEventListener("click", () => { $("lightbox").hidden = true; });
  $("lightbox").addEventListener("click", (e) => { if (e.target === $("lightbox")) $("lightbox").hidden = true; });
}

start();
