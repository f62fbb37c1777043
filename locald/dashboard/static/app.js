// The dashboard page: one EventSource brings `state` (every running project, whole) and `logs` (new
// lines); this script draws them. No framework and no build step: DOM calls, textContent for every value
// (never markup from data), and ansi_up (which escapes HTML) for the colours of log lines.
import { AnsiUp } from "./vendor/ansi_up.js";

const token = document.querySelector('meta[name="locald-token"]').content;
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LINES = 5000;
const PREFIX_COLOURS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#79c0ff", "#ffa657", "#bc8cff", "#7ee787",
                        "#ff7b72", "#a5d6ff"];
const NOT_RUNNING = new Set(["stopped", "exited", "failed", "dead", "created"]);
const COLUMNS = ["Service", "Kind", "Status", "Health", "Restarts", "Uptime", "Port", "URL", ""];

let projects = [];
let lastSeq = 0;
const renderers = new Map(); // "key/service" → its AnsiUp (colours carry over from one line to the next)
const inflight = new Set(); // actions waiting for their answer: their buttons stay disabled

// --- small DOM helpers -------------------------------------------------------------------------------

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const el = (tag, attrs = {}, ...children) => build(document.createElement(tag), attrs, children);
const svg = (tag, attrs = {}, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

function link(url, className) {
  if (!url) return null;
  const href = safeUrl(url);
  if (!href) return el("code", { class: className, text: url }); // redis://…: to copy, not to open
  return el("a", { href, class: className, target: "_blank", rel: "noopener noreferrer", text: href });
}

function uptime(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.floor(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

function colourOf(text) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return PREFIX_COLOURS[hash % PREFIX_COLOURS.length];
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

// --- actions -----------------------------------------------------------------------------------------

async function act(project, action, service) {
  const id = `${project}/${action}/${service ?? ""}`;
  inflight.add(id);
  render();
  try {
    const response = await fetch("/api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Locald-Token": token },
      body: JSON.stringify({ project, action, service }),
    });
    const body = await response.json().catch(() => ({}));
    notice(response.ok ? "" : body.error || `${action} failed (HTTP ${response.status})`);
  } catch (error) {
    notice(`${action} failed: ${error}`);
  } finally {
    inflight.delete(id);
    render();
  }
}

function actionButton(project, action, service, label) {
  const busy = inflight.has(`${project.key}/${action}/${service ?? ""}`);
  return el("button", {
    type: "button", class: `action-${action}`, dataset: { action }, disabled: busy,
    title: service ? `${label} ${service}` : `${label} (every service, in dependency order)`,
    text: busy ? `${label}…` : label, onclick: () => act(project.key, action, service),
  });
}

// --- projects ----------------------------------------------------------------------------------------

function serviceRow(project, s) {
  const health = el("td", { class: "health", text: s.health || "–" });
  if (s.health_output) health.append(el("span", { class: "probe", title: s.health_output, text: s.health_output }));
  const urls = el("td", { class: "urls" }, link(s.public_url, "named"), link(s.url, s.public_url ? "direct" : "plain"));
  if (!urls.childElementCount) urls.textContent = "–";
  return el("tr", {
    class: `service tone-${s.tone}`,
    dataset: { service: s.name, status: s.status, tone: s.tone, pid: s.pid ?? "", kind: s.kind },
  },
    el("td", {}, el("a", { href: "#logs", class: "name", text: s.name, title: "show its logs",
                           onclick: () => chooseSource(`${project.key}/${s.name}`) })),
    el("td", { text: s.kind }),
    el("td", {}, el("span", { class: "badge status", title: s.message || null, text: s.status })),
    health,
    el("td", { class: "num restarts", text: String(s.restarts) }),
    el("td", { class: "num uptime", dataset: { started: s.started_at ?? "" } }),
    el("td", { class: "num", text: s.port ?? "–" }),
    urls,
    el("td", { class: "actions" }, actionButton(project, "restart", s.name, "Restart"), " ",
       NOT_RUNNING.has(s.status) ? actionButton(project, "start", s.name, "Start")
                                 : actionButton(project, "stop", s.name, "Stop")),
  );
}

function ansiRenderer() {
  const ansi = new AnsiUp();
  ansi.use_classes = true; // colours from style.css, chosen for the background they are shown on
  return ansi;
}

function crashRow(s) {
  const lines = el("pre");
  const ansi = ansiRenderer();
  lines.innerHTML = s.last_lines.map((line) => ansi.ansi_to_html(line)).join("\n"); // ansi_up escapes HTML
  return el("tr", { class: "crash", dataset: { service: s.name } },
    el("td", { colspan: COLUMNS.length },
      el("strong", { text: `${s.name}: ${s.message || `exited with code ${s.exit_code}`}` }),
      s.last_lines.length ? lines : el("div", { class: "muted", text: "It printed nothing." })));
}

function graph(project) {
  const g = project.graph;
  if (!g.nodes.length) return null;
  const where = new Map(g.nodes.map((n) => [n.name, n]));
  const services = new Map(project.services.map((s) => [s.name, s]));
  const [w, h] = [g.node_width, g.node_height];
  const marker = `arrow-${project.key}`;
  const root = svg("svg", { width: g.width, height: g.height, viewBox: `0 0 ${g.width} ${g.height}`, role: "img",
                            "aria-label": `how the services of ${project.name} depend on each other` },
    svg("defs", {}, svg("marker", { id: marker, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                   markerHeight: 7, orient: "auto-start-reverse" },
                        svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c959f" }))));
  for (const e of g.edges) {
    const [a, b] = [where.get(e.from), where.get(e.to)];
    const [x1, y1, x2, y2] = [a.x + w, a.y + h / 2, b.x, b.y + h / 2];
    const mid = (x1 + x2) / 2;
    root.append(svg("g", { class: `edge${e.required ? "" : " optional"}`, dataset: { from: e.from, to: e.to, condition: e.condition } },
      svg("title", { text: `${e.to} waits for ${e.from} to be ${e.condition.replaceAll("_", " ")}` }),
      svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 1},${y2}`, "marker-end": `url(#${marker})` }),
      svg("text", { x: mid, y: (y1 + y2) / 2 - 5, "text-anchor": "middle", text: e.condition.replaceAll("_", " ") })));
  }
  for (const n of g.nodes) {
    const s = services.get(n.name) || { tone: "off", status: "?" };
    root.append(svg("g", { class: `node tone-${s.tone}`, dataset: { service: n.name } },
      svg("rect", { x: n.x, y: n.y, width: w, height: h }),
      svg("text", { x: n.x + 10, y: n.y + 18, text: n.name }),
      svg("text", { class: "sub", x: n.x + 10, y: n.y + 34, text: `${s.kind ?? ""} · ${s.status}` })));
  }
  return el("div", { class: "graph" }, root);
}

function projectSection(p) {
  const rows = [];
  for (const s of p.services) {
    rows.push(serviceRow(p, s));
    if (s.crashed) rows.push(crashRow(s));
  }
  return el("section", { class: "project", dataset: { key: p.key } },
    el("header", {},
      el("h2", { text: p.name }),
      el("span", { class: "phase", dataset: { phase: p.phase || "unknown" }, text: p.phase || "…" }),
      el("span", { class: "root", title: p.root, text: p.root }),
      el("span", { class: "spacer" }),
      actionButton(p, "restart-stack", null, "Restart stack")),
    p.error ? el("div", { class: "error", text: p.error }) : null,
    el("table", {},
      el("thead", {}, el("tr", {}, ...COLUMNS.map((c) => el("th", { text: c })))),
      el("tbody", {}, ...rows)),
    graph(p));
}

function render() {
  const main = $("projects");
  for (const section of main.querySelectorAll("section.project")) section.remove();
  main.append(...projects.map(projectSection));
  $("empty").hidden = projects.length > 0;
  const services = projects.flatMap((p) => p.services);
  const crashed = services.filter((s) => s.crashed).length;
  $("summary").textContent = `${projects.length} project${projects.length === 1 ? "" : "s"} · ` +
    `${services.length} service${services.length === 1 ? "" : "s"}` + (crashed ? ` · ${crashed} crashed` : "");
  updateSources();
  showUptimes();
}

function showUptimes() {
  const now = Date.now() / 1000;
  for (const cell of document.querySelectorAll("td.uptime")) {
    const started = parseFloat(cell.dataset.started);
    cell.textContent = Number.isFinite(started) ? uptime(Math.max(0, now - started)) : "–";
  }
}

// --- logs --------------------------------------------------------------------------------------------

function sourceLabel(source) {
  const [key, service] = source.split("/");
  const project = projects.find((p) => p.key === key);
  if (projects.length <= 1) return service;
  return `${project ? project.name : key}/${service}`;
}

function updateSources() {
  const select = $("log-source");
  const sources = new Set(projects.flatMap((p) => p.services.map((s) => `${p.key}/${s.name}`)));
  for (const source of renderers.keys()) sources.add(source);
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "all services" }),
    ...[...sources].map((source) => el("option", { value: source, text: sourceLabel(source) })));
  select.value = sources.has(current) ? current : "";
}

function visible(line) {
  const source = $("log-source").value;
  const filter = $("log-filter").value.trim().toLowerCase();
  return (!source || line.dataset.source === source) && (!filter || line.textContent.toLowerCase().includes(filter));
}

function refilter() {
  const box = $("log-lines");
  let shown = 0;
  for (const line of box.children) {
    line.hidden = !visible(line);
    if (!line.hidden) shown++;
  }
  $("log-count").textContent = `${shown} of ${box.childElementCount} lines`;
  follow();
}

function chooseSource(source) {
  updateSources();
  $("log-source").value = source;
  refilter();
}

function follow() {
  if ($("log-follow").checked) $("log-lines").scrollTop = $("log-lines").scrollHeight;
}

function addLines(records) {
  const box = $("log-lines");
  const fragment = document.createDocumentFragment();
  let newSource = false;
  for (const [seq, key, service, text] of records) {
    if (seq <= lastSeq) continue; // already shown (a backlog overlapping the live stream)
    lastSeq = seq;
    const source = `${key}/${service}`;
    let ansi = renderers.get(source);
    if (!ansi) {
      ansi = ansiRenderer();
      renderers.set(source, ansi);
      newSource = true;
    }
    const who = el("span", { class: "who", text: sourceLabel(source) });
    who.style.color = colourOf(source);
    const body = el("span", { class: "text" });
    body.innerHTML = ansi.ansi_to_html(text); // escaped by ansi_up
    const line = el("div", { class: "line", dataset: { source } }, who, body);
    line.hidden = !visible(line);
    fragment.append(line);
  }
  box.append(fragment);
  while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
  if (newSource) updateSources();
  $("log-count").textContent = `${box.childElementCount} lines`;
  follow();
}

function clearLines() {
  $("log-lines").replaceChildren();
  $("log-count").textContent = "";
}

// --- the stream --------------------------------------------------------------------------------------

function setConnection(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

function connect() {
  const events = new EventSource("/events");
  events.addEventListener("open", () => {
    // A new stream (maybe a new server): it sends the recent lines again, numbered afresh.
    lastSeq = 0;
    renderers.clear();
    clearLines();
    setConnection("live", "live");
  });
  events.addEventListener("error", () => setConnection("lost", "reconnecting…"));
  events.addEventListener("state", (event) => {
    projects = JSON.parse(event.data).projects;
    render();
  });
  events.addEventListener("logs", (event) => addLines(JSON.parse(event.data)));
}

$("log-source").addEventListener("change", refilter);
$("log-filter").addEventListener("input", refilter);
$("log-follow").addEventListener("change", follow);
$("log-clear").addEventListener("click", clearLines);
$("log-lines").addEventListener("scroll", () => {
  const box = $("log-lines");
  $("log-follow").checked = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
});
setInterval(showUptimes, 1000);
connect();
