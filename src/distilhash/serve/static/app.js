// distilhash search page: text box + image drop zone -> /api/search, /api/search/image -> result grid.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { targets: [] };

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
    const parts = Object.entries(s.indexes).map(([t, i]) => `${i.count.toLocaleString()} ${t}s`);
    const first = Object.values(s.indexes)[0];
    $("model").textContent = `${parts.join(" + ")} · ${describeModel(first.model)}`;
    fillDirections("text");
  } catch (e) {
    $("model").textContent = "service unreachable";
  }
}

function render(data) {
  const grid = $("results");
  grid.innerHTML = "";
  for (const r of data.results) {
    const card = el("article", { class: "card", "data-id": r.id });
    if (r.thumbnail) {
      card.appendChild(el("img", { src: r.thumbnail, alt: r.caption || r.id }));
    } else {
      card.appendChild(el("div", { class: "noimg" }, "no thumbnail"));
    }
    const body = el("div", { class: "body" });
    body.appendChild(el("div", { class: "caption", title: r.caption || "" }, r.caption || "(no caption)"));
    const meta = el("div", { class: "meta" });
    meta.appendChild(el("span", { class: "id" }, r.id));
    meta.appendChild(el("span", { class: "dist", title: "distance (lower = closer)" }, `d=${Number(r.distance).toFixed(Number.isInteger(r.distance) ? 0 : 3)}`));
    body.appendChild(meta);
    card.appendChild(body);
    grid.appendChild(card);
  }
  const t = data.timings_ms || {};
  const status = $("status");
  status.innerHTML = "";
  status.append(el("b", { id: "count" }, String(data.results.length)), " results for ", el("b", { id: "query" }, data.query),
                ` (${data.direction}) in `, el("b", { id: "took" }, `${data.took_ms.toFixed(1)} ms`));
  const detail = Object.entries(t).filter(([k, v]) => k !== "cache_hit" && typeof v === "number")
    .map(([k, v]) => k === "batch" ? `batch ${v}` : `${k} ${v.toFixed(1)}`).join(", ");
  const enc = data.encoder;
  const encText = enc ? ` · text encoder ${enc.name}` + (enc.fallback ? ` (fallback: ${Math.round(enc.oov_rate * 100)} % unknown words)` : "") : "";
  status.append(el("span", { class: "detail" }, ` [${detail}${t.cache_hit ? ", cached" : ""}] · answered by `),
                el("b", { id: "answered-by" }, describeModel(data.model) + encText));
}

async function runQuery(promise) {
  showError("");
  $("status").textContent = "searching…";
  try {
    const r = await promise;
    const data = await r.json();
    if (!r.ok) {
      $("status").textContent = "";
      $("results").innerHTML = "";
      showError(data.error || `request failed (${r.status})`);
      return;
    }
    render(data);
  } catch (e) {
    $("status").textContent = "";
    showError(`request failed: ${e}`);
  }
}

$("text-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("q").value.trim();
  if (!q) { showError("Type a few words to search."); return; }
  const dir = $("direction").value.startsWith("t") ? $("direction").value : "";
  const params = new URLSearchParams({ q, k: $("k").value });
  if (dir) params.set("direction", dir);
  runQuery(fetch(`/api/search?${params}`));
});

$("q").addEventListener("focus", () => fillDirections("text"));

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

loadStats();
