"use strict";
// RadSynth web page: plain JS over the public API. The API key (if any) is kept in localStorage.
const $ = (sel) => document.querySelector(sel);
const state = { key: localStorage.getItem("radsynth-key") || "", genJob: null, expJob: null, timers: {}, modelKind: {} };

function headers(extra = {}) { return state.key ? { "X-API-Key": state.key, ...extra } : extra; }

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: headers(opts.headers || {}) });
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : await res.blob();
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : `request failed (${res.status})`;
    throw new Error(res.status === 401 ? `${msg}: enter your API key at the top right` : msg);
  }
  return body;
}

function say(text, error = false) { const s = $("#status"); s.textContent = text; s.className = error ? "error" : ""; }
async function blobUrl(url) { return URL.createObjectURL(await api(url)); }
async function download(url, name) {
  try { const a = document.createElement("a"); a.href = await blobUrl(url); a.download = name; a.click(); }
  catch (e) { say(e.message, true); }
}
function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") n.className = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else n.setAttribute(k, v); }
  for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

// ---------------------------------------------------------------- views
function show(view, focus = false) {
  if (!document.getElementById(`view-${view}`)) view = "generate";
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);  // each view has its own link
  document.querySelectorAll(".tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.view === view)));
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${view}`; });
  say("");
  if (focus) $(`#h-${view}`).focus();  // keyboard users land at the top of the view they opened
  if (view === "jobs") refreshJobs();
  if (view === "models") loadModelCards();
  if (view === "datasets") loadDatasets();
}
const tabs = [...document.querySelectorAll(".tab")];
tabs.forEach((t, i) => {
  t.addEventListener("click", (e) => show(t.dataset.view, e.detail === 0));  // detail 0: activated by keyboard
  t.addEventListener("keydown", (e) => {  // arrow keys move between tabs, as in any tab strip
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (step) { e.preventDefault(); tabs[(i + step + tabs.length) % tabs.length].focus(); }
  });
});
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
$("#apikey").value = state.key;
$("#keyform").addEventListener("submit", (e) => {
  e.preventDefault(); state.key = $("#apikey").value.trim(); localStorage.setItem("radsynth-key", state.key);
  say("API key saved."); loadModels();
});

// ---------------------------------------------------------------- job polling
function poll(jobId, box, onDone) {
  const bar = box.querySelector("progress"), label = box.querySelector("span");
  box.hidden = false; bar.value = 0; label.textContent = "queued";
  clearInterval(state.timers[box.id]);
  state.timers[box.id] = setInterval(async () => {
    try {
      const job = await api(`/jobs/${jobId}`);
      const p = job.progress || {};
      bar.value = p.total ? p.step / p.total : 0;
      label.textContent = job.status === "queued" ? `queued (position ${p.queue_position ?? "?"})`
        : `${job.status}${p.total ? ` ${p.step}/${p.total}` : ""}${p.eta_s ? `, about ${Math.ceil(p.eta_s)} s left` : ""}`;
      if (["succeeded", "failed", "cancelled"].includes(job.status)) {
        clearInterval(state.timers[box.id]); box.hidden = job.status === "succeeded";
        if (job.status === "failed") say(`Job failed: ${job.error ? job.error.message : "unknown error"}`, true);
        if (job.status === "cancelled") say("Job cancelled.");
        if (job.status === "succeeded") onDone(job);
      }
    } catch (e) { say(e.message, true); }
  }, 700);
}

// ---------------------------------------------------------------- generate
async function loadModels() {
  try {
    const models = await api("/models");
    const sel = $("#gen-model"); sel.innerHTML = "";
    state.modelKind = {}; state.defaults = {};
    for (const m of models.filter((m) => m.makes)) {
      state.modelKind[m.name] = m.makes; state.defaults[m.name] = m.generate_defaults || {};
      state.resolutions = state.resolutions || {}; state.resolutions[m.name] = (m.details || {}).resolutions || [];
      sel.append(el("option", { value: m.name, ...(m.default ? { selected: "" } : {}) }, m.makes === "volume" ? `${m.name} (3D volumes)` : m.name));
    }
    await loadFindings();
  } catch (e) { say(e.message, true); }
}
const FORMATS = {  // by what a model makes (GET /models: makes)
  image: [["png,dicom", "PNG + DICOM"], ["png", "PNG"], ["dicom", "DICOM"]],
  volume: [["nifti", "NIfTI"], ["dicom", "DICOM series (zip)"], ["nifti,dicom", "NIfTI + DICOM series"]],
};
function setOutputs(makes) {
  const fmt = $("#gen-format"); fmt.innerHTML = "";
  for (const [value, label] of FORMATS[makes] || FORMATS.image) fmt.append(el("option", { value }, label));
  const volumes = makes === "volume", n = $("#genform [name=n]");
  n.max = volumes ? 8 : 64; if (volumes && +n.value > 8) n.value = 2;
  $("#gen-gif-box").hidden = volumes; $("#genform [name=gif]").disabled = volumes;
  $("#genform [name=qc]").closest("label").hidden = volumes;
}
// The form starts from the service's own defaults for the chosen model (GET /models), never from values of its own.
const SAMPLER_LABELS = { "dpmsolver++": "DPM-Solver++ (fast)", ddim: "DDIM", unipc: "UniPC", ddpm: "DDPM (1000 steps, slow)", euler: "Euler", euler_a: "Euler ancestral" };
function applyDefaults(model) {
  const d = state.defaults[model] || {}, form = $("#genform"), samplers = $("#genform [name=sampler]");
  samplers.innerHTML = "";  // the service's own sampler list (GET /models), never one of the page's
  for (const name of Object.keys(d.steps_per_sampler || {})) samplers.append(el("option", { value: name }, SAMPLER_LABELS[name] || name));
  const sizes = (state.resolutions || {})[model] || [], res = form.elements.resolution;
  res.innerHTML = ""; for (const r of sizes) res.append(el("option", { value: r }, `${r} x ${r}`));
  $("#gen-resolution-box").hidden = sizes.length < 2; res.disabled = sizes.length < 2;
  $("#gen-fast-sr-box").hidden = sizes.length < 2; form.elements.fast_sr.checked = false;
  // the box offers the other super-resolution start: half-way when the model starts from noise, and back
  const partway = (d.superres_start ?? 1) < 1;
  $("#gen-fast-sr-text").textContent = partway ? "Full super-resolution (slower)" : "Faster super-resolution";
  $("#gen-fast-sr-box").title = partway
    ? "run super-resolution from pure noise instead of the half-noised base image: about twice its time (realism card)"
    : "start super-resolution from the upsampled base image noised half-way: about half its time (realism card)";
  form.elements.fast_sr.value = partway ? "1" : "0.5";
  for (const name of ["n", "sampler", "steps", "guidance", "format", "resolution"]) if (d[name] !== undefined && d[name] !== null) form.elements[name].value = String(d[name]);
  for (const name of ["gif", "qc"]) if (d[name] !== undefined) form.elements[name].checked = d[name];
}
$("#genform [name=sampler]").addEventListener("change", (e) => {
  const per = (state.defaults[$("#gen-model").value] || {}).steps_per_sampler || {};
  if (per[e.target.value]) $("#genform [name=steps]").value = per[e.target.value];
});
async function loadFindings() {
  const model = $("#gen-model").value; if (!model) return;
  setOutputs(state.modelKind[model]);
  applyDefaults(model);
  const f = await api(`/findings?model=${encodeURIComponent(model)}`);
  const sel = $("#gen-finding"); sel.innerHTML = "";
  for (const name of f.findings) sel.append(el("option", { value: name, ...(name === "Consolidation" ? { selected: "" } : {}) }, name.replace("_", " ")));
}
$("#gen-model").addEventListener("change", () => loadFindings().catch((e) => say(e.message, true)));

$("#genform").addEventListener("submit", async (e) => {
  e.preventDefault(); say("");
  const form = new FormData(e.target), q = new URLSearchParams();
  for (const [k, v] of form.entries()) if (v !== "" && !["gif", "qc", "fast_sr"].includes(k)) q.set(k, v);
  const sizes = (state.resolutions || {})[form.get("model")] || [];
  if (form.has("fast_sr") && sizes.length > 1 && +form.get("resolution") === Math.max(...sizes)) q.set("superres_start", form.get("fast_sr"));
  if (state.modelKind[form.get("model")] !== "volume") { q.set("gif", form.has("gif")); q.set("qc", form.has("qc")); }
  try {
    const job = await api(`/generate?${q}`, { method: "POST" });
    state.genJob = job.id; $("#gallery").innerHTML = ""; $("#gen-gif").innerHTML = "";
    say(`Job ${job.id.slice(0, 8)} queued (seed ${job.params.seed}).`);
    poll(job.id, $("#gen-progress"), renderGallery);
  } catch (err) { say(err.message, true); }
});
$("#gen-progress .cancel").addEventListener("click", () => cancel(state.genJob));

async function renderGallery(job) {
  if (job.result.kind === "volumes") return renderVolumes(job);
  const r = job.result, where = r.guidance_interval ? ` at t/T ${r.guidance_interval[0]}-${r.guidance_interval[1]} of the schedule` : "";
  say(`Generated ${r.images.length} images of ${r.findings.join(" + ")} with ${r.sampler}, ${r.steps} steps, guidance ${r.guidance}${where}.`);
  const byName = Object.fromEntries(job.artifacts.map((a) => [a.name, a]));
  for (const img of job.result.images) {
    const png = img.files.find((f) => f.endsWith(".png")), dcm = img.files.find((f) => f.endsWith(".dcm"));
    const card = el("div", { class: "card" });
    if (png) { const i = el("img", { alt: `generated image, seed ${img.seed}` }); card.append(i); blobUrl(byName[png].url).then((u) => { i.src = u; }); }
    card.append(el("div", {}, `seed ${img.seed}`));
    if (img.noise_redraws) card.append(el("span", { class: "badge", title: "the first draw was pixel noise (rougher than 99% of the training images); this image was drawn again on the seed shown" }, `redrawn ${img.noise_redraws}x as noise`));
    if (img.qc) {
      for (const [name, a] of Object.entries(img.qc.label_agreement))
        card.append(el("span", { class: `badge ${a.agrees ? "ok" : "bad"}`, title: `ensemble probability for ${name}` }, `${name} p=${a.probability.toFixed(2)}`));
      const m = img.qc.memorisation;
      if (m) card.append(el("span", { class: `badge ${m.flagged ? "bad" : "ok"}`, title: `nearest training image ${m.nearest_train_id}, distance ${m.distance.toFixed(3)}` }, m.flagged ? "possible copy" : "not a copy"));
    }
    const links = el("div");
    if (png) links.append(el("button", { type: "button", onclick: () => download(byName[png].url, png) }, "PNG"), " ");
    if (dcm) links.append(el("button", { type: "button", onclick: () => download(byName[dcm].url, dcm) }, "DICOM"));
    card.append(links); $("#gallery").append(card);
  }
  if (byName["denoising.gif"]) {
    const g = el("img", { alt: "denoising animation", class: "gif" });
    $("#gen-gif").append(el("h3", {}, "Denoising"), g); g.src = await blobUrl(byName["denoising.gif"].url);
  }
}

function renderVolumes(job) {
  const r = job.result, byName = Object.fromEntries(job.artifacts.map((a) => [a.name, a]));
  say(`Generated ${r.volumes.length} volume${r.volumes.length === 1 ? "" : "s"} of ${r.findings.join(" + ")}, ${r.shape_zyx.join("x")} voxels of ${r.spacing_mm_xyz.join(" x ")} mm, with ${r.sampler}, ${r.steps} steps.`);
  for (const v of r.volumes) {
    const card = el("div", { class: "card volume" });
    const slices = el("img", { alt: `axial, coronal and sagittal mid-slices, seed ${v.seed}` });
    const sweep = el("img", { alt: `sweep through the axial slices, seed ${v.seed}`, class: "gif" });
    card.append(slices, sweep, el("div", {}, `seed ${v.seed}`));
    blobUrl(byName[v.slices].url).then((u) => { slices.src = u; });
    blobUrl(byName[v.sweep].url).then((u) => { sweep.src = u; });
    const links = el("div");
    for (const f of v.files) links.append(el("button", { type: "button", onclick: () => download(byName[f].url, f) }, f.endsWith(".zip") ? "DICOM series" : "NIfTI"), " ");
    card.append(links); $("#gallery").append(card);
  }
}

// ---------------------------------------------------------------- explain
const drop = $("#drop"), fileInput = $("#expfile");
drop.addEventListener("click", () => fileInput.click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); fileInput.files = e.dataTransfer.files; chosen(); });
fileInput.addEventListener("change", chosen);
function chosen() { if (fileInput.files[0]) drop.firstChild.textContent = `Selected: ${fileInput.files[0].name} `; }

$("#expform").addEventListener("submit", async (e) => {
  e.preventDefault(); say("");
  if (!fileInput.files[0]) { say("Choose a PNG, JPEG or DICOM file first.", true); return; }
  const form = new FormData(e.target);
  if (!form.get("findings")) form.delete("findings");
  try {
    const job = await api("/explain", { method: "POST", body: form });
    state.expJob = job.id; $("#exp-result").hidden = true;
    say(`Upload accepted; explanation job ${job.id.slice(0, 8)} queued.`);
    poll(job.id, $("#exp-progress"), renderExplanation);
  } catch (err) { say(err.message, true); }
});

function trustText(p) {  // the same wording as the overlay and the CLI (models/explain/verdict.py)
  if (p.test_auroc === undefined) return "";
  const [lo, hi] = p.test_auroc_ci95, text = `test AUROC ${p.test_auroc.toFixed(2)} [${lo.toFixed(2)}, ${hi.toFixed(2)}]`;
  return p.reliable === false ? `${text}, unreliable` : text;
}
async function renderExplanation(job) {
  const r = job.result, byName = Object.fromEntries(job.artifacts.map((a) => [a.name, a]));
  const cfs = Object.fromEntries((r.counterfactuals || []).map((c) => [c.finding, c]));
  const how = r.settings.method === "counterfactual" ? "a counterfactual" : `${r.settings.method}, ${r.settings.n_steps} steps` + (r.counterfactuals ? " and a counterfactual" : "");
  say(`Explained ${r.explained.join(", ")} with ${how}, ${r.settings.members} models.`);
  $("#exp-original").src = await blobUrl(byName["original.png"].url);
  $("#exp-base").src = $("#exp-original").src;
  const which = $("#exp-which"); which.innerHTML = "";
  for (const f of r.explained) which.append(el("option", { value: f }, f));
  const showOverlay = async () => {
    const slug = which.value.toLowerCase().replace(/[_\- ]/g, "");
    const overlay = byName[`overlay_${slug}.png`] || byName[`difference_${slug}.png`];
    $("#exp-overlay").src = overlay ? await blobUrl(overlay.url) : "";
    const cf = cfs[which.value], panel = byName[`counterfactual_${slug}.png`];
    $("#exp-cf").hidden = !(cf && panel);
    if (cf && panel) {
      $("#exp-cf-panel").src = await blobUrl(panel.url);
      $("#exp-cf-caption").textContent = `Counterfactual of ${which.value}: probability ${cf.probability.reconstruction.toFixed(2)} regenerated with it, ${cf.probability.counterfactual.toFixed(2)} regenerated as No Finding (drop ${cf.probability_drop.toFixed(2)}; other findings moved ${cf.other_findings_mean_abs_change.toFixed(2)} on average).`;
    }
    const sc = (r.shortcuts || {})[which.value], note = $("#exp-shortcut");
    note.textContent = sc ? `${sc.flagged ? "Possible shortcut: " : ""}${(sc.shortcut_share * 100).toFixed(0)}% of the positive attribution lies on the image border (${(sc.border_share * 100).toFixed(0)}%) or on bright markers and devices (${(sc.marker_share * 100).toFixed(0)}%).` : "";
    note.className = sc && sc.flagged ? "warn" : "";
    note.title = sc ? sc.rule : "";
    $("#exp-links").innerHTML = "";
    if (overlay) $("#exp-links").append(el("button", { type: "button", onclick: () => download(overlay.url, overlay.name) }, "Download overlay"), " ");
    if (panel) $("#exp-links").append(el("button", { type: "button", onclick: () => download(panel.url, panel.name) }, "Download counterfactual"), " ");
    $("#exp-links").append(
      el("button", { type: "button", onclick: () => download(byName["explanation.json"].url, "explanation.json") }, "Download JSON"));
  };
  which.onchange = showOverlay; await showOverlay();
  const probs = $("#probs"); probs.innerHTML = "";
  const ranked = Object.entries(r.probabilities).sort((a, b) => b[1].probability - a[1].probability);
  for (const [name, p] of ranked) {
    const track = el("div", { class: "track", role: "img", "aria-label": `${name}: ${(p.probability * 100).toFixed(0)} percent, spread ${(p.std * 100).toFixed(0)}` });
    track.append(el("div", { class: "fill", style: `width:${p.probability * 100}%` }),
      el("div", { class: "spread", style: `left:${Math.max(0, p.probability - p.std) * 100}%;width:${Math.min(1, 2 * p.std) * 100}%` }));
    if (p.threshold !== undefined) track.append(el("div", { class: "threshold", style: `left:${p.threshold * 100}%`, title: `threshold ${p.threshold.toFixed(2)}` }));
    const verdict = p.positive === undefined ? "" : (p.positive ? "positive" : "negative");
    const rule = p.threshold_rule ? `why: ${p.threshold_rule}` : "";
    probs.append(el("div", { class: "bar" + (p.positive ? " positive" : "") }, el("span", {}, name.replace("_", " ")), track,
      el("span", {}, `${p.probability.toFixed(2)} +/- ${p.std.toFixed(2)}`),
      el("span", { class: "verdict", title: rule }, verdict + (p.threshold !== undefined ? ` (threshold ${p.threshold.toFixed(2)})` : "")),
      el("small", { class: "trust" + (p.reliable === false ? " unreliable" : ""), title: "the ensemble's AUROC for this finding on held-out test patients, with its 95% interval; unreliable when the interval holds 0.5 (chance)" }, trustText(p)),
      el("small", { class: "rule" }, rule)));
  }
  $("#exp-result").hidden = false;
}
$("#opacity").addEventListener("input", (e) => { $("#exp-overlay").style.opacity = e.target.value; });

// ---------------------------------------------------------------- jobs and models
async function cancel(id) {
  if (!id) return;
  try { await api(`/jobs/${id}/cancel`, { method: "POST" }); say("Cancel requested."); refreshJobs(); } catch (e) { say(e.message, true); }
}
async function refreshJobs() {
  try {
    const list = await api("/jobs?limit=50"), rows = $("#jobrows"); rows.innerHTML = "";
    $("#jobs-empty").hidden = list.items.length > 0;
    for (const j of list.items) {
      const p = j.progress || {}, dur = j.started_at ? (((j.finished_at || Date.now() / 1000) - j.started_at).toFixed(1) + " s") : "";
      const act = ["queued", "running"].includes(j.status) ? el("button", { type: "button", onclick: () => cancel(j.id), "aria-label": `cancel job ${j.id.slice(0, 8)}` }, "Cancel") : "";
      const files = el("td", { class: "files" });
      const shown = (j.artifacts || []).filter((a) => !a.name.endsWith(".npy"));
      const pictures = shown.filter((a) => /\.(png|gif)$/.test(a.name)).slice(0, 4);
      for (const a of pictures) {  // thumbnails of what the job made; a click downloads the full file
        const img = el("img", { class: "thumb", alt: a.name, title: `${a.name} (click to download)` });
        files.append(el("button", { type: "button", class: "thumb-button", onclick: () => download(a.url, a.name), "aria-label": `download ${a.name}` }, img));
        thumbnail(a.url).then((u) => { img.src = u; });
      }
      for (const a of shown.filter((a) => !pictures.includes(a))) {
        files.append(el("button", { type: "button", class: "link", onclick: () => download(a.url, a.name), "aria-label": `download ${a.name}` }, a.name), " ");
      }
      if (j.error) files.append(el("span", { class: "error" }, j.error.message));
      rows.append(el("tr", {}, el("td", {}, j.kind), el("td", {}, j.status), el("td", {}, p.total ? `${p.step}/${p.total}` : ""),
        el("td", {}, dur), el("td", {}, new Date(j.created_at * 1000).toLocaleTimeString()), files, el("td", {}, act)));
    }
  } catch (e) { say(e.message, true); }
}
const thumbnails = new Map();  // artifact URL -> object URL: the Jobs list refreshes every 3 s
function thumbnail(url) { if (!thumbnails.has(url)) thumbnails.set(url, blobUrl(url)); return thumbnails.get(url); }
setInterval(() => { if (!$("#view-jobs").hidden) refreshJobs(); }, 3000);

async function loadModelCards() {
  try {
    const models = await api("/models"), box = $("#modelcards"); box.innerHTML = "";
    for (const m of models) {
      const metrics = m.details && m.details.metrics ? Object.entries(m.details.metrics).map(([k, v]) => `${k}: ${typeof v === "number" ? v.toFixed(3) : v}`).join(" · ") : "";
      const card = el("div", { class: "modelcard" }, el("h3", {}, `${m.name}${m.default ? " (default)" : ""}`),
        el("p", {}, `${m.kind}, ${((m.details || {}).resolutions || [m.resolution || "?"]).join(" or ")} px, trained on ${m.dataset || "?"}; findings: ${m.findings.join(", ")}`));
      if (metrics) card.append(el("p", {}, metrics));
      if (m.makes === "image") {
        const img = el("img", { alt: `sample grid of ${m.name}` });
        const fig = el("figure", { class: "grid" }, img, el("figcaption", {}, m.origin === "bundled" ? "Samples at the service's defaults, one labelled row per finding." : "Samples from its last training step, one labelled row per finding."));
        card.append(fig);
        blobUrl(`/models/${encodeURIComponent(m.name)}/samples.png`).then((u) => { img.src = u; }).catch(() => fig.remove());
      }
      box.append(card);
    }
  } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------- data sets, synthesis, augmentation studies
async function loadDatasets() {
  try {
    const sets = await api("/datasets"), rows = $("#dsrows"); rows.innerHTML = "";
    const real = $("#study-real"), syn = $("#study-syn"), keepReal = real.value, keepSyn = syn.value;
    real.innerHTML = ""; syn.innerHTML = "";
    for (const d of sets) {
      const counts = Object.entries(d.per_finding || {}).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([f, n]) => `${f} ${n}`).join(", ");
      const act = el("td");
      if (d.uploaded) {
        act.append(el("button", { type: "button", onclick: () => download(`/datasets/${encodeURIComponent(d.name)}/archive`, `${d.name}.zip`), "aria-label": `download ${d.name}` }, "Download"), " ",
          el("button", { type: "button", onclick: () => deleteDataset(d.name), "aria-label": `delete ${d.name}` }, "Delete"));
      }
      rows.append(el("tr", {}, el("td", {}, d.name), el("td", {}, d.uploaded ? "yours" : "the service's"), el("td", {}, d.format || ""),
        el("td", {}, d.images ?? ""), el("td", {}, d.patients ?? ""), el("td", {}, counts), el("td", {}, (d.problems || []).join("; ")), act));
      real.append(el("option", { value: d.name }, d.name));
      syn.append(el("option", { value: d.name }, d.name));
    }
    if (keepReal) real.value = keepReal;
    if (keepSyn) syn.value = keepSyn;
    const models = await api("/models"), sel = $("#syn-model"), keep = sel.value; sel.innerHTML = "";
    for (const m of models.filter((m) => m.makes === "image")) sel.append(el("option", { value: m.name, ...(m.default ? { selected: "" } : {}) }, m.name));
    if (keep) sel.value = keep;
  } catch (e) { say(e.message, true); }
}
async function deleteDataset(name) {
  if (!confirm(`Delete the data set ${name} and all its files?`)) return;
  try { await api(`/datasets/${encodeURIComponent(name)}`, { method: "DELETE" }); say(`Deleted ${name}.`); loadDatasets(); } catch (e) { say(e.message, true); }
}
// The upload goes through XMLHttpRequest: fetch cannot report upload progress, and archives are large.
$("#dsform").addEventListener("submit", (e) => {
  e.preventDefault(); say("");
  // name and layout before the archive: the service refuses a taken name before reading the file
  const filled = new FormData(e.target), form = new FormData(), box = $("#ds-progress"), bar = box.querySelector("progress"), label = box.querySelector("span");
  form.append("name", filled.get("name"));
  if (filled.get("format")) form.append("format", filled.get("format"));
  form.append("file", filled.get("file"));
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/datasets");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  box.hidden = false; bar.value = 0; label.textContent = "uploading";
  xhr.upload.onprogress = (p) => { if (p.lengthComputable) { bar.value = p.loaded / p.total; label.textContent = `uploading ${Math.round(100 * p.loaded / p.total)}%`; } };
  xhr.onload = () => {
    let body = {}; try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status !== 202) { box.hidden = true; say(body.error ? body.error.message : `upload failed (${xhr.status})`, true); return; }
    say(`Uploaded; checking job ${body.id.slice(0, 8)} queued.`);
    poll(body.id, box, (job) => { say(`Data set ${job.result.dataset}: ${job.result.images} images of ${job.result.patients} patients (${job.result.format}).`); loadDatasets(); });
  };
  xhr.onerror = () => { box.hidden = true; say("the upload failed (network)", true); };
  xhr.send(form);
});
function perFinding(text) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name, n] = part.split("=").map((s) => s.trim());
    if (!name || !/^\d+$/.test(n || "")) throw new Error(`write finding=count, e.g. consolidation=200 (got "${part}")`);
    out[name] = Number(n);
  }
  return out;
}
$("#synform").addEventListener("submit", async (e) => {
  e.preventDefault(); say("");
  const form = new FormData(e.target);
  try {
    const body = { name: form.get("name"), model: form.get("model"), per_finding: perFinding(form.get("per_finding")),
      qc: { reject_copies: form.has("reject_copies"), min_agreement: form.get("min_agreement") === "" ? null : Number(form.get("min_agreement")) } };
    const job = await api("/synthesize", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    say(`Synthesis job ${job.id.slice(0, 8)} queued: ${Object.entries(job.params.per_finding).map(([f, n]) => `${n} ${f}`).join(", ")}.`);
    poll(job.id, $("#syn-progress"), (done) => { say(`Made ${done.result.images} images (${done.result.images_per_minute} per minute); the data set ${done.result.dataset} is ready.`); loadDatasets(); });
  } catch (err) { say(err.message, true); }
});
$("#studyform").addEventListener("submit", async (e) => {
  e.preventDefault(); say("");
  const form = new FormData(e.target);
  const body = { kind: "augmentation_study", name: `study-${Date.now()}`, dataset: form.get("dataset"), synthetic: form.get("synthetic"),
    ratios: form.get("ratios").split(",").map(Number), seeds: Number(form.get("seeds")), steps: Number(form.get("steps")), resolution: Number(form.get("resolution")) };
  if (form.get("test_share")) body.test_share = Number(form.get("test_share"));
  try {
    const job = await api("/train", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    $("#study-result").hidden = true;
    say(`Study ${job.id.slice(0, 8)} queued.`);
    poll(job.id, $("#study-progress"), renderStudy);
  } catch (err) { say(err.message, true); }
});
async function renderStudy(job) {
  const byName = Object.fromEntries(job.artifacts.map((a) => [a.name, a])), rows = $("#studyrows"); rows.innerHTML = "";
  $("#study-plot").src = await blobUrl(byName["study.png"].url);
  for (const [finding, verdict] of Object.entries(job.result.verdicts)) {
    const arms = Object.entries(job.result.test_auroc[finding] || {}).map(([a, v]) => `${a}: ${v.toFixed(3)}`).join(" · ");
    rows.append(el("tr", {}, el("td", {}, finding), el("td", {}, verdict), el("td", {}, arms)));
  }
  $("#study-result").hidden = false;
  say(`Study done on ${job.result.test_patients} held-out patient${job.result.test_patients === 1 ? "" : "s"} of ${job.result.dataset}.`);
}

loadModels();
if (location.hash.length > 1) show(location.hash.slice(1));  // a linked or reloaded view opens itself
