// The art2mus control panel: polls /api/status once a second and sends the technician's commands.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
let titles = {};
let volumeDragging = false;

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch("/api" + path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : response.statusText);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function command(path, body) {
  try {
    await api(path, body);
    showError("");
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

function label(what) {
  if (what === "idle") return "Idle ambience";
  if (!what) return "—";
  return titles[what] || what;
}

function renderArtworks(list, status) {
  const ul = $("artworks");
  ul.replaceChildren();
  for (const art of list) {
    const li = document.createElement("li");
    li.dataset.id = art.id;
    const text = document.createElement("span");
    text.textContent = `${art.title} — ${art.artist}${art.year != null ? ", " + art.year : ""}`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Play";
    button.setAttribute("aria-label", "play " + art.id);
    button.addEventListener("click", () => command("/play", { artwork: art.id }));
    li.append(text, button);
    ul.append(li);
  }
}

function render(status) {
  $("exhibit").textContent = status.exhibit;
  $("playing").textContent = label(status.playing);
  $("why").textContent = status.override
    ? "Fixed from this panel (the camera is ignored)"
    : "Following the camera";
  $("follow").classList.toggle("active", !status.override);
  $("idle").classList.toggle("active", status.override === "idle");
  for (const li of $("artworks").children) li.classList.toggle("playing", li.dataset.id === status.playing);
  const vision = status.vision;
  $("vision").textContent = vision ? (vision.artwork === "none" ? "nothing" : vision.artwork === "unknown"
    ? "a visitor, no artwork" : label(vision.artwork)) : "—";
  const presence = status.presence;
  $("presence").textContent = presence ? (presence.present ? "present" + (presence.sensors.length
    ? " (sensor " + presence.sensors.join(", ") + ")" : "") : "nobody") : "—";
  const camera = status.camera;
  $("camera").textContent = camera ? `${camera.state}, ${camera.fps.toFixed(1)} fps, ${camera.reconnects} reconnects`
    : "—";
  const audio = status.audio;
  if (audio) {
    $("audio").textContent = `${audio.state}${audio.output && audio.output.device_name ? " on " + audio.output.device_name : ""}, `
      + `${audio.underruns} underruns${audio.last_error ? ", last error: " + audio.last_error : ""}`;
    if (!volumeDragging) {
      $("volume").value = Math.round(audio.master_volume_target * 100);
      $("volume-value").textContent = Math.round(audio.master_volume_target * 100) + " %";
    }
  }
  const generation = status.generation;
  $("generation").textContent = generation
    ? `${generation.current ? "rendering " + label(generation.current) + ", " : ""}${generation.queued} queued, `
      + `${generation.done} done, ${generation.failed} failed${generation.alive ? "" : " (process stopped)"}`
    : "nothing to generate";
  const schedule = status.schedule;
  $("schedule").textContent = schedule ? `${schedule.open ? "open" : "closed"} (${schedule.period})`
    + (schedule.until ? ` until ${new Date(schedule.until).toLocaleString()}` : "") : "—";
  const reload = status.reload;
  $("reload-state").textContent = !reload ? "as started" : reload.ok
    ? `reloaded ${reload.at}${reload.restart_needed.length ? "; restart for " + reload.restart_needed.join(", ") : ""}`
    : `reload refused ${reload.at}: ${reload.problems.join("; ")}`;
  const events = $("events");
  events.replaceChildren();
  for (const event of status.events.slice().reverse()) {
    const li = document.createElement("li");
    li.textContent = `${label(event.play)} (${event.reason})`;
    events.append(li);
  }
  const healthy = audio && audio.healthy && camera && camera.state === "streaming";
  $("connection").textContent = healthy ? "running" : "attention";
  $("connection").className = "badge " + (healthy ? "ok" : "bad");
}

async function refresh() {
  try {
    render(await api("/status"));
  } catch (error) {
    $("connection").textContent = "no connection";
    $("connection").className = "badge bad";
  }
}

async function start() {
  try {
    const list = await api("/artworks");
    titles = Object.fromEntries(list.map((a) => [a.id, a.title]));
    renderArtworks(list);
  } catch (error) {
    showError(error.message);
  }
  $("follow").addEventListener("click", () => command("/follow", {}));
  $("idle").addEventListener("click", () => command("/idle", {}));
  $("reload").addEventListener("click", () => command("/reload", {}));
  const volume = $("volume");
  volume.addEventListener("input", () => {
    volumeDragging = true;
    $("volume-value").textContent = volume.value + " %";
  });
  volume.addEventListener("change", async () => {
    await command("/volume", { volume: Number(volume.value) / 100, ramp_seconds: 1 });
    volumeDragging = false;
  });
  await refresh();
  setInterval(refresh, 1000);
}

start();
