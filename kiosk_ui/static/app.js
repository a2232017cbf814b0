// The art2mus control panel: polls /api/status once a second, the live view about once a second and the log
// every few seconds, and sends the technician's commands (JSON only: the server refuses anything else).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const withToken = (path) => (token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path);
let titles = {};
let volumeDragging = false;
let reloadWaiting = null; // the previous reload's time while a reload is in progress

async function request(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, { ...options, headers });
}

async function api(path, body) {
  const response = await request("/api" + path, body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
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
  if (what === "silence") return "Silence (closed)";
  if (!what) return "—";
  return titles[what] || what;
}

function listen(what, name) {
  // plays in this browser only: the room's engine is not touched
  const player = $("listener");
  player.src = withToken(`/api/soundscapes/${encodeURIComponent(what)}.flac`);
  player.dataset.what = what;
  player.setAttribute("aria-label", "listening to " + name);
  player.play().catch((error) => showError("Cannot play here: " + error.message));
}

function renderArtworks(list) {
  const ul = $("artworks");
  ul.replaceChildren();
  for (const art of list) {
    const li = document.createElement("li");
    li.dataset.id = art.id;
    const thumb = document.createElement("img");
    thumb.src = withToken(`/api/artworks/${encodeURIComponent(art.id)}/thumbnail.jpg`);
    thumb.alt = "reference photo of " + art.title;
    thumb.loading = "lazy";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = `${art.title} — ${art.artist}${art.year != null ? ", " + art.year : ""}`;
    const quality = document.createElement("span");
    quality.className = "quality" + (art.keypoints != null && art.keypoints < 200 ? " weak" : "");
    quality.textContent = art.keypoints != null ? `${art.keypoints} keypoints` : "not in the recognition index";
    if (art.made_by) quality.textContent += ` · made by ${art.made_by}`;
    text.append(quality);
    for (const problem of art.problems || []) {  // left out (e.g. its audio cannot be played): the rest play
      const note = document.createElement("span");
      note.className = "problem";
      note.textContent = problem;
      text.append(note);
      li.classList.add("has-problem");
    }
    const buttons = document.createElement("span");
    buttons.className = "buttons";
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = "Play";
    play.setAttribute("aria-label", "play " + art.id);
    play.addEventListener("click", () => command("/play", { artwork: art.id }));
    const hear = document.createElement("button");
    hear.type = "button";
    hear.className = "listen";
    hear.textContent = "Listen";
    hear.setAttribute("aria-label", "listen to " + art.id);
    hear.addEventListener("click", () => listen(art.id, art.title));
    buttons.append(play, hear);
    li.append(thumb, text, buttons);
    ul.append(li);
  }
}

async function refreshUnseen() {
  try {
    const list = await api("/unseen");
    const ul = $("unseen");
    ul.replaceChildren();
    for (const art of list) {
      const li = document.createElement("li");
      li.dataset.id = "unseen:" + art.id;
      const thumb = document.createElement("img");
      thumb.src = withToken(`/api/unseen/${encodeURIComponent(art.id)}/crop.jpg`);
      thumb.alt = "crop of the unseen artwork " + art.id;
      thumb.loading = "lazy";
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = `${art.id} — seen ${art.sightings} times`;
      li.append(thumb, text);
      ul.append(li);
    }
  } catch (error) {
    showError(error.message);
  }
}

const dB = (value, unit) => (value == null ? "—" : `${value.toFixed(1)} ${unit}`);

function renderReload(reload) {
  const state = $("reload-state");
  const at = reload ? reload.at : null;
  if (reloadWaiting !== null) {
    if (at === reloadWaiting.at && Date.now() - reloadWaiting.since < 30000) {
      state.textContent = "reloading…";
      return;
    }
    reloadWaiting = null;
    $("reload").disabled = false;
  }
  state.textContent = !reload ? "as started" : reload.ok
    ? `reloaded ${new Date(reload.at).toLocaleString()}${reload.restart_needed.length ? "; restart for " + reload.restart_needed.join(", ") : ""}`
    : `reload refused ${new Date(reload.at).toLocaleString()}: ${reload.problems.join("; ")}`;
}

function render(status) {
  $("exhibit").textContent = status.exhibit;
  $("playing").textContent = label(status.playing);
  const silent = $("audible");
  silent.hidden = status.audible;
  silent.textContent = status.audible ? "" : "Nothing reaches the speakers"
    + (status.attention.length ? ": " + status.attention[0] : "");
  $("why").textContent = status.override
    ? "Fixed from this panel (the camera is ignored)"
    : "Following the camera";
  $("follow").classList.toggle("active", !status.override);
  $("idle").classList.toggle("active", status.override === "idle");
  for (const li of $("artworks").children) li.classList.toggle("playing", li.dataset.id === status.playing);
  const vision = status.vision;
  $("vision").textContent = vision ? (vision.artwork === "none" ? "sees nothing" : vision.artwork === "unknown"
    ? "a visitor, no artwork" : `sees ${label(vision.artwork)} (score ${vision.score})`) : "—";
  const presence = status.presence;
  $("presence").textContent = presence ? (presence.present ? "visitor present" + (presence.sensors.length
    ? " (sensor " + presence.sensors.join(", ") + ")" : "") : "nobody") : "—";
  const camera = status.camera;
  $("camera").textContent = camera ? `${camera.state}, ${camera.fps.toFixed(1)} fps, ${camera.reconnects} reconnects`
    : "—";
  const audio = status.audio;
  if (audio) {
    $("audio").textContent = `${audio.state}${audio.output && audio.output.device_name ? " on " + audio.output.device_name : ""}, `
      + `${audio.underruns} underruns`
      + `${audio.output && audio.output.device_underflows ? ", " + audio.output.device_underflows + " device underflows" : ""}`
      + `${audio.last_error ? ", last error: " + audio.last_error : ""}`;
    $("peak").value = audio.peak_dbfs == null ? -60 : Math.max(-60, audio.peak_dbfs);
    $("peak-value").textContent = dB(audio.peak_dbfs, "dBFS");
    $("loudness").value = audio.loudness_lufs == null ? -60 : Math.max(-60, audio.loudness_lufs);
    $("loudness-value").textContent = dB(audio.loudness_lufs, "LUFS");
    // the slider is the room's level; the engine plays it times the opening-hours period's volume
    const level = status.volume ? status.volume.room : audio.master_volume_target;
    const period = status.volume && status.volume.period !== 1
      ? ` = room × period ${Math.round(status.volume.period * 100)} %` : "";
    $("volume-real").textContent = `(now ${Math.round(audio.master_volume * 100)} %${period})`;
    if (!volumeDragging) {
      $("volume").value = Math.round(level * 100);
      $("volume-value").textContent = Math.round(level * 100) + " %";
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
  renderReload(status.reload);
  const events = $("events");
  events.replaceChildren();
  for (const event of status.timeline.slice().reverse()) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = event.time;
    time.textContent = event.time.replace("T", " ").slice(0, 19);
    li.append(time, `${label(event.play)} (${event.reason})`);
    events.append(li);
  }
  const causes = $("attention");
  causes.replaceChildren(...status.attention.map((cause) => {
    const li = document.createElement("li");
    li.textContent = cause;
    return li;
  }));
  causes.hidden = status.attention.length === 0;
  const badge = $("connection");
  badge.textContent = status.attention.length ? "attention: " + status.attention.join("; ") : "running";
  badge.className = "badge " + (status.attention.length ? "bad" : "ok");
}

async function refresh() {
  try {
    render(await api("/status"));
  } catch (error) {
    $("connection").textContent = "no connection";
    $("connection").className = "badge bad";
  }
}

async function refreshLive() {
  try {
    const response = await request("/api/live.jpg");
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    const img = $("live");
    const old = img.dataset.url;
    img.src = url;
    img.dataset.url = url;
    img.dataset.frame = response.headers.get("X-Frame-Index") || "";
    if (old) URL.revokeObjectURL(old);
  } catch (error) {
    // the status poll reports a lost connection
  }
}

async function refreshLogs() {
  try {
    const records = await api("/logs?limit=200&level=" + $("log-level").value);
    const list = $("logs");
    list.replaceChildren(...records.slice().reverse().map((record) => {
      const li = document.createElement("li");
      li.className = record.level;
      const time = document.createElement("time");
      time.textContent = record.time.replace("T", " ").slice(0, 23);
      li.append(time, `${record.level} ${record.logger}: ${record.message}`);
      return li;
    }));
  } catch (error) {
    // shown by the status poll
  }
}

async function reload() {
  const previous = $("reload-state").dataset.at || null;
  $("reload").disabled = true;
  $("reload-state").textContent = "reloading…";
  try {
    const answer = await api("/reload", {});
    reloadWaiting = { at: answer.last_reload ? answer.last_reload.at : previous, since: Date.now() };
  } catch (error) {
    $("reload").disabled = false;
    showError(error.message);
  }
}

async function start() {
  if (token) $("docs-link").href = withToken("/api/docs");
  try {
    const list = await api("/artworks");
    titles = Object.fromEntries(list.map((a) => [a.id, a.title]));
    renderArtworks(list);
  } catch (error) {
    showError(error.message);
  }
  refreshUnseen();
  setInterval(refreshUnseen, 10000);
  $("follow").addEventListener("click", () => command("/follow", {}));
  $("idle").addEventListener("click", () => command("/idle", {}));
  $("reload").addEventListener("click", reload);
  $("listen-idle").addEventListener("click", () => listen("idle", "the idle ambience"));
  $("log-level").addEventListener("change", refreshLogs);
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
  refreshLive();
  refreshLogs();
  setInterval(refresh, 1000);
  setInterval(refreshLive, 1000);
  setInterval(refreshLogs, 3000);
}

start();
