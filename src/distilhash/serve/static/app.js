// distilhash search page: text box + image drop zone -> search routes -> result grid. The routes
// come from the service (/routes.js, made from distilhash/serve/routes.py): no path is written here.
// The query lives in the URL (?q=..&k=..&dir=.. or ?like=ID&target=..): links work and the back
// button returns to earlier results. Cards open a dialog with the item and its nearest items.
"use strict";

const ROUTES = window.DISTILHASH_ROUTES;
const $ = (id) => document.getElementById(id);
for (const a of document.querySelectorAll("a[data-route]")) a.href = ROUTES[a.dataset.route];
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
    const r = await fetch(ROUTES.stats);
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
  if (rank) {
    const meta = el("div", { class: "meta" });
    meta.appendChild(el("span", { class: "rank" }, `#${rank}`));
    meta.appendChild(el("span", { class: "dist", title: info ? info.label : "distance (lower = closer)" }, describeDistance(r.distance, info)));
    body.appendChild(meta);
  }
  body.appendChild(el("div", { class: "id", title: r.id }, r.id));
  node.appendChild(body);
  const open = () => openItem(r, rank, target, info);
  node.addEventListener("click", open);
  node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
  return node;
}

function exampleButton(ex) {
  const b = el("button", { type: "button", class: "example", "data-q": ex.query, title: `in ${ex.items} captions` }, ex.query);
  b.addEventListener("click", () => { $("q").value = ex.query; navigate(new URLSearchParams({ q: ex.query, k: $("k").value })); });
  return b;
}

function renderMatch(match, info) {
  const box = $("match");
  box.innerHTML = "";
  box.hidden = !match;
  if (!match) return;
  box.classList.toggle("weak", match.weak);
  const typical = match.best !== undefined
    ? `best hit ${describeDistance(match.best, info)}; a typical item for this query: ${describeDistance(match.typical, info)} (median of ${match.sample_is_collection ? "all " + match.sample + " items" : match.sample + " random items"})` : "";
  if (match.likeness) {  // the calibrated note (query_encoders/weak_match.py): do the words read like this collection's captions?
    const lk = match.likeness;
    if (match.weak) {
      box.append(el("b", {}, "Weak match. "), "These words do not read like anything in this collection's captions, " +
                 "so the pictures below are probably unrelated. ");
      if (start.data && start.data.examples.length) {
        const tries = el("span", { class: "examples inline" }, "Try: ");
        start.data.examples.slice(0, 4).forEach((ex) => tries.appendChild(exampleButton(ex)));
        box.appendChild(tries);
      }
    } else {
      box.append(el("b", {}, "Match: "), `the words read like this collection's captions (closest caption similarity ${lk.nearest_caption.toFixed(2)})` +
                 (typical ? `; ${typical}.` : "."));
    }
    box.title = `letters score ${lk.score} vs threshold ${lk.threshold} (calibrated on held-out captions: about 4 % of real captions fall below it)`;
    return;
  }
  const own = match.threshold_rule === "own captions";  // serve/match.py: calibrated on this collection's captions
  const bar = match.threshold !== undefined ? ` (weak below ${match.threshold.toFixed(2)}${own ? ", set from this collection's own captions" : ""})` : "";
  box.append(el("b", {}, match.weak ? "Weak match. " : "Match: "),
             `${typical}; the best hit stands out by ${match.contrast.toFixed(2)} standard deviations${bar}.`);
  if (own) box.title = "threshold: the contrast that 10 % of this collection's captions fall below when searched " +
                       "(of those that find their own picture first); a small collection cannot reach the fixed 2.0";
}

function render(data) {
  const target = MODALITY[data.direction[2]];
  const info = data.distance || state.distance[target];
  state.current = data;
  const grid = $("results");
  grid.innerHTML = "";
  data.results.forEach((r, i) => grid.appendChild(card(r, i + 1, target, info, false)));
  renderStatus(data, target);
  renderMatch(data.match, info);
  const notes = $("notes");
  notes.innerHTML = "";
  // the weak-match note is the match line above, in the page's words
  const shown = (data.notes || []).filter((n) => !(data.match && data.match.weak && n.startsWith("weak match")));
  for (const n of shown) notes.appendChild(el("li", {}, n));
  notes.hidden = !shown.length;
  if (info) $("ranking").textContent = "codes from a distilled student, " + rankingText(info);
}

// -- the status line: the time in words, the stages behind a toggle ---------------------------------
const UNDERSTAND = ["static_text", "teacher_text", "teacher_image", "decode_image", "project"];  // query -> code
const STAGE_WORDS = { static_text: "static text encoder", teacher_text: "teacher's text tower", teacher_image: "teacher's image tower",
                      decode_image: "reading the image", project: "turning features into a code", queue_wait: "waiting for other queries",
                      search: "comparing codes", match: "typical-distance check" };
const DIRECTION_WORDS = { t2i: "text → pictures", t2t: "text → captions", i2t: "picture → captions", i2i: "picture → pictures" };

function ms(v) { return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`; }

function timingWords(t) {
  const sum = (keys) => keys.reduce((a, k) => a + (typeof t[k] === "number" ? t[k] : 0), 0);
  const parts = [];
  const understand = sum(UNDERSTAND), search = sum(["search", "match"]), wait = sum(["queue_wait"]);
  if (understand > 0 || t.cache_hit) parts.push(`${ms(understand)} understanding your query` + (t.cache_hit ? " (remembered from before)" : ""));
  if (search > 0) parts.push(`${ms(search)} searching`);
  if (wait >= 1) parts.push(`${ms(wait)} waiting for other queries`);
  return parts.join(", ");
}

function renderStatus(data, target) {
  const t = data.timings_ms || {};
  const status = $("status");
  status.innerHTML = "";
  const line = el("div", { class: "line" });
  line.append(el("b", { id: "count" }, String(data.results.length)), ` ${target === "text" ? "captions" : "pictures"} for `,
              el("b", { id: "query" }, data.query), ` (${DIRECTION_WORDS[data.direction] || data.direction})`);
  if (data.took_ms !== undefined) {
    line.append(" in ", el("b", { id: "took" }, ms(data.took_ms)));
    const words = timingWords(t);
    if (words) line.append(el("span", { id: "timing-words" }, `: ${words}`));
  }
  status.appendChild(line);
  const det = el("details", { id: "timing-detail" });
  det.appendChild(el("summary", {}, "details"));
  const stages = Object.entries(t).filter(([k, v]) => k !== "cache_hit" && k !== "batch" && typeof v === "number")
    .map(([k, v]) => `${STAGE_WORDS[k] || k} ${ms(v)}`);
  if (t.batch > 1) stages.push(`answered together with ${t.batch - 1} other quer${t.batch === 2 ? "y" : "ies"}`);
  const enc = data.encoder;
  const encText = enc ? ` · query words read by the ${enc.name === "light" ? "light text encoder" : enc.name === "student" ? "model's own text encoder" : "teacher's text tower"}` +
    (enc.fallback ? ` (${Math.round(enc.oov_rate * 100)} % of the words unknown to the light encoder)` : "") : "";
  det.append(el("div", { class: "stages" }, stages.join(" · ")), el("div", {}, "answered by "),
             el("b", { id: "answered-by" }, describeModel(data.model) + encText));
  status.appendChild(det);
}

// -- the start page: a sample of the index and example queries from its captions ---------------------
const start = { promise: null, data: null };

function loadStart() {
  if (!start.promise) start.promise = fetchStart();
  return start.promise;
}

async function fetchStart() {
  try {
    const r = await fetch(ROUTES.start);
    if (!r.ok) { start.promise = null; return; }
    const s = await r.json();
    start.data = s;
    const box = $("examples");
    box.innerHTML = "";
    for (const ex of s.examples) box.appendChild(exampleButton(ex));
    $("sample-title").textContent = `What the index holds: ${s.items.toLocaleString()} ${s.modality === "text" ? "captions" : "pictures"}, ${s.sample.length} picked at random`;
    const grid = $("sample");
    grid.innerHTML = "";
    s.sample.forEach((r) => grid.appendChild(card(r, 0, s.modality, null, false)));
  } catch (e) { start.promise = null; /* the start page is optional: searching still works */ }
}

function showStart(on) {
  $("start").hidden = !on;
  if (on) loadStart();
}

loadStart();  // the examples also serve the weak-match note's suggestions

function clearResults() {
  $("status").textContent = "";
  $("results").innerHTML = "";
  $("match").hidden = true;
  $("notes").hidden = true;
}

async function runQuery(promise) {
  showError("");
  $("status").textContent = "searching…";
  showStart(false);
  try {
    const r = await promise;
    const data = await r.json();
    if (!r.ok) {
      clearResults();
      showError(data.error || `request failed (${r.status})`);
      return;
    }
    showStart(false);
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
    return runQuery(fetch(`${ROUTES.similar}?${api}`));
  }
  const q = params.get("q");
  if (!q) { clearResults(); showError(""); $("q").value = ""; showStart(true); return; }
  $("q").value = q;
  if (params.get("k") && [...$("k").options].some((o) => o.value === params.get("k"))) $("k").value = params.get("k");
  fillDirections("text");
  if (params.get("dir") && [...$("direction").options].some((o) => o.value === params.get("dir"))) $("direction").value = params.get("dir");
  const api = new URLSearchParams({ q, k: $("k").value });
  if (params.get("dir")) api.set("direction", params.get("dir"));
  return runQuery(fetch(`${ROUTES.search}?${api}`));
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
  const raw = r.metadata && r.metadata.caption;
  $("item-raw").hidden = !raw || raw === r.caption;
  $("item-raw").textContent = raw ? `text in the metadata: ${raw}` : "";
  const labels = Array.isArray(r.labels) ? r.labels.join(", ") : (r.labels ?? "");
  $("item-labels").textContent = labels ? `labels: ${labels}` : "no labels";
  $("item-score").textContent = rank ? `#${rank} for this query · ${describeDistance(r.distance, info)}` + (info ? ` (${info.label})` : "") : "";
  $("item-meta").textContent = JSON.stringify(r.metadata, null, 2);
  const strip = $("item-neighbours");
  strip.innerHTML = "";
  strip.textContent = "loading…";
  $("item-more").onclick = () => { dlg.close(); navigate(new URLSearchParams({ like: r.id, target, k: $("k").value })); };
  $("item-as-query").hidden = !r.thumbnail;
  $("item-as-query").onclick = async () => {
    dlg.close();
    const blob = await (await fetch(r.thumbnail)).blob();
    searchImage(new File([blob], `${r.id.replace(/[^\w.-]+/g, "_")}.${blob.type.split("/")[1] || "png"}`, { type: blob.type }));
  };
  if (!dlg.open) dlg.showModal();
  try {
    const resp = await fetch(`${ROUTES.similar}?${new URLSearchParams({ id: r.id, target, k: 9 })}`);
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
  runQuery(fetch(ROUTES.searchImage, { method: "POST", body: form }));
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
