// distilhash search page: text box + image drop zone -> /api/search, /api/search/image -> result grid.
// The query lives in the URL (?q=..&k=..&dir=.. or ?like=ID&target=..): links work and the back
// button returns to earlier results. Cards open a dialog with the item and its nearest items.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { targets: [], distance: {}, current: null };
const MODALITY = { i: "image", t: "text" };

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;  // textContent: captions are never parsed as HTML
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function describeModel(m) {
  if (!m) return "";
  return `${m.method} · ${m.bits} bits` + (m.model_dir ? ` (${m.model_dir})` : "") + (m.teacher ? ` · teacher ${m.teacher}` : "");
}

// A distance in the words of its kind: bits that differ (Hamming) or the ADC score.
function describeDistance(d, info) {
  const kind = info ? info.kind : "";
  if (kind === "hamming") return `${Math.round(d)}/${info.bits} bits differ`;
  if (kind === "adc-ip") return `score ${(-d).toFixed(3)}`;
  if (kind === "adc-l2") return `dist² ${Number(d).toFixed(3)}`;
  return `distance ${Number(d).toFixed(3)}`;
}

function rankingText(info) {
  if (!info) return "";
  if (info.kind === "hamming") return `ranked by Hamming distance between ${info.bits}-bit binary codes (bits that differ)`;
  if (info.kind === "adc-ip") return `ranked by asymmetric distance (ADC) to ${info.bits}-bit product-quantization codes: score = inner product, higher is closer`;
  return `ranked by asymmetric distance (ADC) to ${info.bits}-bit product-quantization codes: squared distance, lower is closer`;
}

function fillDirections(queryKind) {
  const sel = $("direction");
  const other = { text: "image", image: "text" };
  const prev = sel.value;
  sel.innerHTML = "";
  const names = { image: "images", text: "captions" };
  const order = [other[queryKind], queryKind].filter((t) => state.targets.includes(t));
  for (const t of order) {
    const d = `${queryKind[0]}2${t[0]}`;
    sel.appendChild(el("option", { value: d }, `${queryKind} → ${names[t]}`));
  }
  if ([...sel.options].some((o) => o.value === prev)) sel.value = prev;
}

async function loadStats() {
  try {
    const r = await fetch("/api/stats");
    const s = await r.json();
    state.targets = Object.keys(s.indexes);
    for (const [t, i] of Object.entries(s.indexes)) state.distance[t] = i.distance;
    const parts = Object.entries(s.indexes).map(([t, i]) => `${i.count.toLocaleString()} ${t}s`);
    const first = Object.values(s.indexes)[0];
    $("model").textContent = `${parts.join(" + ")} · ${describeModel(first.model)}`;
    $("ranking").textContent = "codes from a distilled student, " + rankingText(first.distance);
    fillDirections("text");
  } catch (e) {
    $("model").textContent = "service unreachable";
  }
}

function card(r, rank, target, info, small) {
  const node = el("article", { class: small ? "card small" : "card", "data-id": r.id, tabindex: "0", role: "button",
                               "aria-label": `open ${r.id}` });
  if (r.thumbnail) node.appendChild(el("img", { src: r.thumbnail, alt: r.caption || r.id, loading: "lazy" }));
  else node.appendChild(el("div", { class: "noimg" }, "no thumbnail"));
  const body = el("div", { class: "body" });
  if (!small) body.appendChild(el("div", { class: "caption", title: r.caption || "" }, r.caption || "(no caption)"));
  const meta = el("div", { class: "meta" });
  meta.appendChild(el("span", { class: "rank" }, `#${rank}`));
  meta.appendChild(el("span", { class: "dist", title: info ? info.label : "distance (lower = closer)" }, describeDistance(r.distance, info)));
  body.appendChild(meta);
  body.appendChild(el("div", { class: "id", title: r.id }, r.id));
  node.appendChild(body);
  const open = () => openItem(r, rank, target, info);
  node.addEventListener("click", open);
  node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
  return node;
}

function renderMatch(match, info) {
  const box = $("match");
  box.innerHTML = "";
  box.hidden = !match;
  if (!match) return;
  box.classList.toggle("weak", match.weak);
  box.append(el("b", {}, match.weak ? "Weak match. " : "Match: "),
             `best hit ${describeDistance(match.best, info)}; a typical item for this query: ${describeDistance(match.typical, info)} ` +
             `(median of ${match.sample} random items); the best hit stands out by ${match.contrast.toFixed(1)} standard deviations.`);
}

function render(data) {
  const target = MODALITY[data.direction[2]];
  const info = data.distance || state.distance[target];
  state.current = data;
  const grid = $("results");
  grid.innerHTML = "";
  data.results.forEach((r, i) => grid.appendChild(card(r, i + 1, target, info, false)));
  const t = data.timings_ms || {};
  const status = $("status");
  status.innerHTML = "";
  status.append(el("b", { id: "count" }, String(data.results.length)), " results for ", el("b", { id: "query" }, data.query),
                ` (${data.direction})` + (data.took_ms !== undefined ? " in " : ""));
  if (data.took_ms !== undefined) status.append(el("b", { id: "took" }, `${data.took_ms.toFixed(1)} ms`));
  const detail = Object.entries(t).filter(([k, v]) => k !== "cache_hit" && typeof v === "number")
    .map(([k, v]) => k === "batch" ? `batch ${v}` : `${k} ${v.toFixed(1)}`).join(", ");
  const enc = data.encoder;
  const encText = enc ? ` · text encoder ${enc.name}` + (enc.fallback ? ` (fallback: ${Math.round(enc.oov_rate * 100)} % unknown words)` : "") : "";
  status.append(el("span", { class: "detail" }, ` [${detail}${t.cache_hit ? ", cached" : ""}] · answered by `),
                el("b", { id: "answered-by" }, describeModel(data.model) + encText));
  renderMatch(data.match, info);
  const notes = $("notes");
  notes.innerHTML = "";
  // the weak-match note is the match line above, in the page's words
  const shown = (data.notes || []).filter((n) => !(data.match && data.match.weak && n.startsWith("weak match")));
  for (const n of shown) notes.appendChild(el("li", {}, n));
  notes.hidden = !shown.length;
  if (info) $("ranking").textContent = "codes from a distilled student, " + rankingText(info);
}

function clearResults() {
  $("status").textContent = "";
  $("results").innerHTML = "";
  $("match").hidden = true;
  $("notes").hidden = true;
}

async function runQuery(promise) {
  showError("");
  $("status").textContent = "searching…";
  try {
    const r = await promise;
    const data = await r.json();
    if (!r.ok) {
      clearResults();
      showError(data.error || `request failed (${r.status})`);
      return;
    }
    render(data);
  } catch (e) {
    clearResults();
    showError(`request failed: ${e}`);
  }
}

// -- the URL is the query -------------------------------------------------------------------
function paramsFromForm() {
  const q = $("q").value.trim();
  const params = new URLSearchParams({ q, k: $("k").value });
  if ($("direction").value.startsWith("t")) params.set("dir", $("direction").value);
  return params;
}

function runParams(params) {
  if (params.has("like")) {
    const api = new URLSearchParams({ id: params.get("like"), k: params.get("k") || $("k").value });
    if (params.get("target")) api.set("target", params.get("target"));
    return runQuery(fetch(`/api/search/similar?${api}`));
  }
  const q = params.get("q");
  if (!q) { clearResults(); return; }
  $("q").value = q;
  if (params.get("k") && [...$("k").options].some((o) => o.value === params.get("k"))) $("k").value = params.get("k");
  fillDirections("text");
  if (params.get("dir") && [...$("direction").options].some((o) => o.value === params.get("dir"))) $("direction").value = params.get("dir");
  const api = new URLSearchParams({ q, k: $("k").value });
  if (params.get("dir")) api.set("direction", params.get("dir"));
  return runQuery(fetch(`/api/search?${api}`));
}

function navigate(params) {
  const url = `?${params}`;
  if (url !== location.search) history.pushState(null, "", url);
  runParams(params);
}

window.addEventListener("popstate", () => { $("item").open && $("item").close(); runParams(new URLSearchParams(location.search)); });

$("text-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!$("q").value.trim()) { showError("Type a few words to search."); return; }
  navigate(paramsFromForm());
});

$("q").addEventListener("focus", () => fillDirections("text"));

// -- one item and its neighbours ------------------------------------------------------------
async function openItem(r, rank, target, info) {
  const dlg = $("item");
  $("item-img").src = r.thumbnail || "";
  $("item-img").hidden = !r.thumbnail;
  $("item-img").alt = r.caption || r.id;
  $("item-id").textContent = r.id;
  $("item-caption").textContent = r.caption || "(no caption)";
  const labels = Array.isArray(r.labels) ? r.labels.join(", ") : (r.labels ?? "");
  $("item-labels").textContent = labels ? `labels: ${labels}` : "no labels";
  $("item-score").textContent = rank ? `#${rank} for this query · ${describeDistance(r.distance, info)}` + (info ? ` (${info.label})` : "") : "";
  $("item-meta").textContent = JSON.stringify(r.metadata, null, 2);
  const strip = $("item-neighbours");
  strip.innerHTML = "";
  strip.textContent = "loading…";
  $("item-more").onclick = () => { dlg.close(); navigate(new URLSearchParams({ like: r.id, target, k: $("k").value })); };
  if (!dlg.open) dlg.showModal();
  try {
    const resp = await fetch(`/api/search/similar?${new URLSearchParams({ id: r.id, target, k: 9 })}`);
    const data = await resp.json();
    strip.innerHTML = "";
    if (!resp.ok) { strip.textContent = data.error || "no neighbours"; return; }
    data.results.filter((x) => x.id !== r.id).slice(0, 8)
      .forEach((x, i) => strip.appendChild(card(x, i + 1, target, data.distance || info, true)));
  } catch (e) {
    strip.textContent = `request failed: ${e}`;
  }
}

// -- image queries (not in the URL: the image stays in the page) --------------------------------
function searchImage(file) {
  if (!file) return;
  const preview = $("drop-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  fillDirections("image");
  const form = new FormData();
  form.append("file", file);
  form.append("k", $("k").value);
  if ($("direction").value) form.append("direction", $("direction").value);
  if (location.search) history.pushState(null, "", location.pathname);
  runQuery(fetch("/api/search/image", { method: "POST", body: form }));
}

const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  searchImage(ev.dataTransfer.files[0]);
});
drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") $("file").click(); });
$("file").addEventListener("change", (ev) => searchImage(ev.target.files[0]));

loadStats().then(() => runParams(new URLSearchParams(location.search)));
