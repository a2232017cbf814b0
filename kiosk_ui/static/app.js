// The art2mus control panel: polls /api/status once a second, the live view about once a second and the log
// every few seconds, and sends the technician's commands (JSON only: the server refuses anything else).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const withToken = (path) => (token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path);
let titles = {};
let volumeDragging = false;
// the Reload button's request: Infinity while it is sent, then when the daemon took it (ms); a status asked
// for before then may not show it yet
let reloadPending = null;
let artworksReload; // the reload the artwork list was fetched after (undefined: not fetched yet)
let timeZone = "UTC"; // the gallery's (/api/status): every time is shown on its clock
let lostSince = null; // when the daemon last stopped answering (null: it answers)
let connectionError = false; // the error box says the daemon did not answer (cleared when it does)

class NotAnswering extends Error {
  constructor(message, hung = false) {
    super(message);
    this.hung = hung; // it took the request and did not answer: it may still act on it if it resumes
  }
}
class Locked extends Error {}

// a daemon that accepts connections but does not answer (stopped, wedged) leaves a fetch pending for ever:
// after this long it counts as not answering, like a refused connection
const ANSWER_TIMEOUT_MS = 4000;

async function request(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, { ...options, headers, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
}

async function api(path, body) {
  let response;
  try {
    response = await request("/api" + path, body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "TimeoutError") { // connected, but no answer: a hung or stopped daemon
      throw new NotAnswering(`The art2mus daemon did not answer within ${ANSWER_TIMEOUT_MS / 1000} s (is it hung?)`, true);
    }
    // the browser's own "Failed to fetch": nothing answered at this address
    throw new NotAnswering("The art2mus daemon does not answer at this address (is it running?)");
  }
  let data;
  try {
    data = await response.json();
  } catch (error) {
    if (error.name === "TimeoutError") throw new NotAnswering("The art2mus daemon stopped answering (is it hung?)", true);
    data = {};
  }
  const detail = errorText(data, response);
  if (response.status === 401) throw new Locked(detail);
  if (!response.ok) throw new Error(detail);
  return data;
}

function errorText(data, response) {
  // a plain sentence, or a refused request's fields (422: [{loc: ["body", "volume"], msg}, ...])
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail)) {
    return data.detail.map((e) => `${(e.loc || []).filter((p) => p !== "body").join(".")}: ${e.msg}`).join("; ");
  }
  return response.statusText;
}

function showError(message, fromConnection = false) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  connectionError = Boolean(message) && fromConnection;
}

function showLocked() {
  // a browser cannot send an Authorization header: the token goes in the address (?token=...)
  const form = $("token-form");
  if (!form.hidden) return;
  $("token-why").textContent = token
    ? "The access token in this page's address is not this control panel's. Enter the text of the exhibit's control_panel.token_file:"
    : "This control panel needs its access token: enter the text of the exhibit's control_panel.token_file.";
  form.hidden = false;
  $("connection").textContent = "locked";
  $("connection").className = "badge bad";
}

function galleryTime(iso, withDate = true) {
  if (!iso) return "";
  const options = { timeZone, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  try {
    return new Date(iso).toLocaleString("sv-SE", options); // 2026-12-05 22:24:14: the log's own format
  } catch (error) { // an unknown zone name in this browser
    return iso.replace("T", " ").slice(0, 19);
  }
}

function ago(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

async function command(path, body) {
  try {
    await api(path, body);
    showError("");
    await refresh();
  } catch (error) {
    if (error instanceof Locked) return showLocked();
    const sent = !(error instanceof NotAnswering) ? ""
      : " The command was not carried out" + (error.hung ? " (a daemon that resumes may still carry it out)." : ".");
    showError(error.message + sent, error instanceof NotAnswering);
  }
}

// why the director changed what plays (the status's event reasons), in words
const REASONS = {
  start: "the daemon started",
  camera: "the camera saw it",
  idle: "no artwork in view for a while",
  manual: "chosen on this panel",
  reload: "exhibit reloaded",
  open: "opening hours began",
  closed: "closed by the opening hours",
};
// seconds without a new camera frame before the live view counts as stale (it keeps the last frame)
const STALE_FRAME_S = 3;
// keypoints under which init and validate call a photo weak (photo_check.WEAK_KEYPOINTS)
const WEAK_KEYPOINTS = 150;

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
  player.play().catch(async (error) => {
    if (error.name === "AbortError") return; // another Listen took its place
    // the browser only says it found no source: the server says why (e.g. the artwork has no soundscape)
    let why = error.message;
    try {
      const response = await request(`/api/soundscapes/${encodeURIComponent(what)}.flac`, { headers: { Range: "bytes=0-0" } });
      if (!response.ok) why = errorText(await response.json().catch(() => ({})), response);
    } catch (failed) {
      why = "the art2mus daemon did not answer";
    }
    showError(`Cannot listen to ${name}: ${why}`);
  });
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
    // the index holds each photo at several scales: its count is above init's per-photo one, so only a
    // count under init's "weak" for the whole artwork is surely weak
    quality.className = "quality" + (art.keypoints != null && art.keypoints < WEAK_KEYPOINTS ? " weak" : "");
    quality.textContent = art.keypoints != null
      ? `${art.keypoints} keypoints in the index (all scales)` : "not in the recognition index";
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
    if (art.playable === false) { // left out: nothing to play or hear (its problems say why)
      for (const button of [play, hear]) {
        button.disabled = true;
        button.title = (art.problems || []).join("; ") || "no soundscape";
      }
      play.setAttribute("aria-label", `play ${art.id} (cannot: no soundscape)`);
      hear.setAttribute("aria-label", `listen to ${art.id} (cannot: no soundscape)`);
    }
    buttons.append(play, hear);
    li.append(thumb, text, buttons);
    ul.append(li);
  }
}

async function loadArtworks() {
  try {
    const list = await api("/artworks");
    titles = Object.fromEntries(list.map((a) => [a.id, a.title]));
    renderArtworks(list);
  } catch (error) {
    if (error instanceof Locked) return showLocked();
    if (!(error instanceof NotAnswering)) showError(error.message); // a lost daemon: the status poll says so
    artworksReload = undefined; // fetched again at the next answer
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
    // a lost daemon or a missing token is the status poll's to report
    if (!(error instanceof NotAnswering) && !(error instanceof Locked)) showError(error.message);
  }
}

const dB = (value, unit) => (value == null ? "—" : `${value.toFixed(1)} ${unit}`);

function renderReload(reload, requestedAt, asked) {
  // the daemon says when a reload is under way (requested by this page, SIGHUP or systemctl reload): until
  // it is done its outcome is the previous one, however long the new collection takes
  const state = $("reload-state");
  if (reloadPending !== null && asked >= reloadPending) reloadPending = null; // this status knows of it
  if (requestedAt) {
    $("reload").disabled = true;
    state.textContent = `reloading… (asked for ${galleryTime(requestedAt)})`;
    return;
  }
  if (reloadPending !== null) return; // "reloading…" until a status asked for after the request
  $("reload").disabled = false;
  state.textContent = !reload ? "as started" : reload.ok
    ? `reloaded ${galleryTime(reload.at)}${reload.restart_needed.length ? "; restart for " + reload.restart_needed.join(", ") : ""}`
    : `reload refused ${galleryTime(reload.at)}: ${reload.problems.join("; ")}`;
}

function render(status, asked) {
  timeZone = status.timezone || "UTC";
  const reloadedAt = status.reload && status.reload.ok ? status.reload.at : null;
  if (artworksReload !== reloadedAt) { // a reload applied: titles, artworks added or taken away
    artworksReload = reloadedAt;
    loadArtworks();
  }
  $("exhibit").textContent = status.exhibit;
  const closed = status.schedule && !status.schedule.open; // silent on purpose, not a problem
  $("playing").textContent = label(status.playing == null && closed ? "silence" : status.playing);
  const silent = $("audible");
  const until = closed && status.schedule.until ? ` until ${galleryTime(status.schedule.until)}` : "";
  silent.hidden = status.audible && !closed;
  silent.classList.toggle("closed", Boolean(closed));
  silent.textContent = status.audible
    ? (closed ? "The room is closing by its opening hours: fading out" + until : "")
    : "Nothing reaches the speakers" + (closed
      ? ": the room is closed by its opening hours" + until
      : status.attention.length ? ": " + status.attention[0] : "");
  $("why").textContent = status.override
    ? "Fixed from this panel (the camera is ignored)"
    : "Following the camera";
  $("follow").classList.toggle("active", !status.override);
  $("idle").classList.toggle("active", status.override === "idle");
  for (const li of $("artworks").children) li.classList.toggle("playing", li.dataset.id === status.playing);
  const camera = status.camera;
  // a camera that stopped leaves its last frame and decision behind: they say nothing about the room now
  const age = camera ? camera.last_frame_age_s : null;
  const streaming = !camera || (camera.state === "streaming" && age != null && age <= STALE_FRAME_S);
  const vision = status.vision;
  const presence = status.presence;
  if (streaming) {
    $("vision").textContent = vision ? (vision.artwork === "none" ? "sees nothing" : vision.artwork === "unknown"
      ? "a visitor, no artwork" : `sees ${label(vision.artwork)} (score ${vision.score})`) : "—";
    $("presence").textContent = presence ? (presence.present ? "visitor present" + (presence.sensors.length
      ? " (sensor " + presence.sensors.join(", ") + ")" : "") : "nobody") : "—";
  } else {
    $("vision").textContent = `camera ${camera.state === "streaming" ? "not sending frames" : camera.state}`;
    $("presence").textContent = age == null ? "no image yet"
      : `no image since ${galleryTime(new Date(Date.now() - age * 1000).toISOString(), false)}`;
  }
  $("live").classList.toggle("stale", !streaming);
  // last_error stays once the camera is back: streaming, it is a past error and says how long ago
  const cameraError = !camera || !camera.last_error ? ""
    : camera.state === "streaming" && camera.last_error_age_s != null
      ? `, last error ${ago(camera.last_error_age_s)}: ${camera.last_error}`
      : `: ${camera.last_error}`;
  $("camera").textContent = camera
    ? `${camera.state}, ${(streaming ? camera.fps : 0).toFixed(1)} fps, ${camera.reconnects} reconnects${cameraError}`
    : "—";
  const audio = status.audio;
  if (audio) {
    $("audio").textContent = `${audio.state}${audio.output && audio.output.device_name ? " on " + audio.output.device_name : ""}, `
      + `${audio.underruns} underruns`
      + `${audio.output && audio.output.device_underflows ? ", " + audio.output.device_underflows + " device underflows" : ""}`
      + `${audio.last_error ? ", last error: " + audio.last_error : ""}`;
    $("peak").value = audio.peak_dbfs == null ? -60 : Math.max(-60, audio.peak_dbfs);
    $("peak-value").textContent = dB(audio.peak_dbfs, "dBFS");
    // measured short-term loudness of the mix (null: not enough audio yet), beside the exhibit's target
    $("loudness").value = audio.loudness_lufs == null ? -60 : Math.max(-60, audio.loudness_lufs);
    $("loudness-value").textContent = dB(audio.loudness_lufs, "LUFS")
      + (audio.loudness_target_lufs != null ? ` (target ${dB(audio.loudness_target_lufs, "LUFS")})` : "");
    // the slider is the room's level; the engine plays it times the opening-hours period's volume
    const level = status.volume ? status.volume.room : audio.master_volume_target;
    const period = status.volume && status.volume.period !== 1 ? Math.round(status.volume.period * 100) : null;
    const now = Math.round(audio.master_volume * 100);
    const target = Math.round(audio.master_volume_target * 100);
    $("volume-real").textContent = now !== target // a ramp: "now" is on its way, not room × period
      ? `(ramping to ${target} %${period !== null ? ` = room × period ${period} %` : ""}, now ${now} %)`
      : `(now ${now} %${period !== null ? ` = room × period ${period} %` : ""})`;
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
  const period = schedule && schedule.period && schedule.period !== (schedule.open ? "open" : "closed")
    ? ` (${schedule.period})` : "";
  $("schedule").textContent = schedule ? `${schedule.open ? "open" : "closed"}${period}`
    + (schedule.until ? ` until ${galleryTime(schedule.until)}` : "") : "—";
  renderReload(status.reload, status.reload_requested_at, asked);
  const events = $("events");
  events.replaceChildren();
  for (const event of status.timeline.slice().reverse()) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = event.time;
    time.textContent = galleryTime(event.time);
    const why = event.play === "silence" && event.reason === "closed" ? ""
      : ` (${REASONS[event.reason] || event.reason})`;
    li.append(time, `${label(event.play)}${why}`);
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
  let status;
  const asked = Date.now();
  try {
    status = await api("/status");
  } catch (error) {
    if (error instanceof Locked) return showLocked();
    // everything shown is from before: greyed, and said so (the room may be silent)
    lostSince = lostSince || new Date();
    document.body.classList.add("stale");
    const banner = $("offline");
    banner.textContent = `The art2mus daemon has not answered since ${galleryTime(lostSince.toISOString(), false)}: `
      + "what is shown is from then, and the room may be silent. This page reconnects by itself.";
    banner.hidden = false;
    $("connection").textContent = "no connection";
    $("connection").className = "badge bad";
    return;
  }
  if (lostSince !== null) {
    lostSince = null;
    document.body.classList.remove("stale");
    $("offline").hidden = true;
    artworksReload = undefined; // a restarted daemon may run another exhibit file
  }
  if (connectionError) showError("");
  render(status, asked);
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
      time.textContent = record.time.replace("T", " ").slice(0, 19); // the gallery's clock, as sent
      li.append(time, `${record.level} ${record.logger}: ${record.message}`);
      return li;
    }));
  } catch (error) {
    // shown by the status poll
  }
}

async function reload() {
  $("reload").disabled = true;
  $("reload-state").textContent = "reloading…";
  reloadPending = Infinity;
  try {
    await api("/reload", {});
    reloadPending = Date.now();
  } catch (error) {
    reloadPending = null;
    $("reload").disabled = false;
    $("reload-state").textContent = "not reloaded";
    if (error instanceof Locked) return showLocked();
    showError(error.message + (error instanceof NotAnswering ? " The reload was not sent." : ""),
      error instanceof NotAnswering);
  }
}

function every(ms, poll) {
  // one poll at a time: a slow daemon must not get a pile of requests waiting for it
  let pending = false;
  setInterval(async () => {
    if (pending) return;
    pending = true;
    try {
      await poll();
    } finally {
      pending = false;
    }
  }, ms);
}

async function start() {
  if (token) $("docs-link").href = withToken("/api/docs");
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = new URL(location.href);
    url.searchParams.set("token", $("token-input").value.trim());
    location.href = url.toString();
  });
  refreshUnseen();
  every(10000, refreshUnseen);
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
    volumeDragging = false; // not carried out: the next answer shows the level the room plays at
  });
  await refresh();
  refreshLive();
  refreshLogs();
  every(1000, refresh);
  every(1000, refreshLive);
  every(3000, refreshLogs);
}

start();
