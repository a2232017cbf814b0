// The art2mus control panel: polls /api/status once a second, the live view about once a second and the log
// every few seconds, and sends the technician's commands (JSON only: the server refuses anything else).
"use strict";

// the access token: given once in the address (?token=..., as links to the panel carry it) or in the form, then
// kept in this tab's sessionStorage and taken out of the address, so that it shows in no history or bookmark.
// fetch sends it as a header; only what the browser fetches itself (thumbnails, audio, the docs) has it in the URL
let token = new URLSearchParams(location.search).get("token");
try {
  if (token) sessionStorage.setItem("art2mus-token", token);
  else token = sessionStorage.getItem("art2mus-token");
} catch (error) { // storage refused (the browser's settings): this page keeps it; a reload asks again
}
if (new URLSearchParams(location.search).has("token")) {
  const url = new URL(location.href);
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
}
const $ = (id) => document.getElementById(id);
// a live region (or any line a screen reader may be reading) is written only when its text changes: a rewrite
// of the same text is read out again, every second
const setText = (element, text) => {
  if (element.textContent !== text) element.textContent = text;
};
const withToken = (path) => (token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path);
let titles = {};
let unseenTitles = {}; // the status's names of the unseen artworks it mentions ("unseen artwork u4585…")
let volumeDragging = false;
// the Reload button's request: Infinity while it is sent, then when the daemon took it (ms); a status asked
// for before then may not show it yet
let reloadPending = null;
let artworksReload; // the reload the artwork list was fetched after (undefined: not fetched yet)
let timeZone = "UTC"; // the gallery's (/api/status): every time is shown on its clock
let lostSince = null; // when the daemon last stopped answering (null: it answers)
let errorKind = null; // what the error box is about ("connection", "artworks", ...): cleared when it next works
let errorTimer = null;
// seconds an error other than a lost connection stays (the next success of the same kind clears it sooner)
const ERROR_SHOWN_MS = 15000;
let lastPlaying; // what the live line last announced as playing (undefined: nothing yet)
let eventsShown = null; // the timeline (and clock) the event list was drawn from
let logsShown = null; // the log records the list was drawn from
let unseenShown = null;
let attentionShown = null;
// the room level the daemon last said (0..100) and a step button's or slider's jump over which a tap is
// asked about: a stray tap on a phone set the room from 29 % to 93 % at once
let roomLevel = null;
const VOLUME_STEP = 5;
const VOLUME_JUMP_ASKED = 20;
// when the last level sent was answered (ms; Infinity while on its way): a status asked for before then may
// say the level before it, and a step from that would undo the one just sent
let volumeAnsweredAt = 0;

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

function showError(message, kind = "command") {
  $("error").textContent = message; // a failure that happens again is said again
  $("error-box").hidden = !message;
  errorKind = message ? kind : null;
  clearTimeout(errorTimer);
  // a lost connection stays until it answers again (the banner says so too); anything else fades
  if (message && kind !== "connection") errorTimer = setTimeout(() => showError(""), ERROR_SHOWN_MS);
}

function clearError(kind) {
  if (errorKind === kind) showError("");
}

function showLocked() {
  // a locked panel shows the form only: its values would all be "—" and its buttons do nothing
  const form = $("token-form");
  if (!form.hidden) return;
  showPanel(false);
  form.hidden = false;
  // written once shown: an alert that appears with its text is read out
  $("token-why").textContent = token
    ? "The access token given is not this control panel's. Enter the text of the exhibit's control_panel.token_file:"
    : "This control panel needs its access token: enter the text of the exhibit's control_panel.token_file.";
  try {
    sessionStorage.removeItem("art2mus-token");
  } catch (error) { // storage refused: nothing kept
  }
  const input = $("token-input");
  input.value = "";
  input.focus();
  setBadge("locked", "bad");
}

function showPanel(shown) {
  const main = document.querySelector("main");
  main.hidden = !shown;
  main.style.display = shown ? "" : "none"; // the stylesheet's display: grid would show it
  if (!shown) $("attention").hidden = true;
}

function setBadge(text, kind, href = null) {
  // short: a screen reader reads the whole badge at each change (the attention list says what is wrong)
  const badge = $("connection");
  badge.className = "badge " + kind;
  const shown = badge.firstElementChild ? badge.firstElementChild.getAttribute("href") : null;
  if (badge.textContent === text && shown === href) return;
  if (href) {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    badge.replaceChildren(link);
  } else {
    badge.textContent = text;
  }
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

async function command(path, body, button = null, result = null) {
  // the button says it is sending (aria-busy; aria-disabled keeps a keyboard user's focus on it), and the
  // line beside it what came of it: the confirmation far above is off screen on a phone
  if (button) {
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
  }
  if (result) setText(result, "sending…");
  try {
    await api(path, body);
    showError("");
    if (result) setText(result, "done");
    await refresh();
  } catch (error) {
    if (result) setText(result, "not done (see the message below)");
    if (error instanceof Locked) return showLocked();
    const sent = !(error instanceof NotAnswering) ? ""
      : " The command was not carried out" + (error.hung ? " (a daemon that resumes may still carry it out)." : ".");
    showError(error.message + sent, error instanceof NotAnswering ? "connection" : "command");
  } finally {
    if (button) {
      button.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
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
  return titles[what] || unseenTitles[what] || what;
}

function listen(what, name) {
  // plays in this browser only: the room's engine is not touched
  const player = $("listener");
  player.src = withToken(`/api/soundscapes/${encodeURIComponent(what)}.flac`);
  player.dataset.what = what;
  player.setAttribute("aria-label", "listening to " + name);
  player.addEventListener("playing", () => clearError("listen"), { once: true });
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
    showError(`Cannot listen to ${name}: ${why}`, "listen");
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
    // named by title (what a technician hears), not by id
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = "Play";
    play.setAttribute("aria-label", "Play " + art.title);
    const result = document.createElement("span");
    result.className = "result";
    result.setAttribute("role", "status");
    play.addEventListener("click", () => command("/play", { artwork: art.id }, play, result));
    const hear = document.createElement("button");
    hear.type = "button";
    hear.className = "listen";
    hear.textContent = "Listen";
    hear.setAttribute("aria-label", "Listen to " + art.title);
    hear.addEventListener("click", () => listen(art.id, art.title));
    if (art.playable === false) { // left out: nothing to play or hear (its problems say why)
      for (const button of [play, hear]) {
        button.disabled = true;
        button.title = (art.problems || []).join("; ") || "no soundscape";
      }
      play.setAttribute("aria-label", `Play ${art.title} (cannot: no soundscape)`);
      hear.setAttribute("aria-label", `Listen to ${art.title} (cannot: no soundscape)`);
    }
    buttons.append(play, hear, result);
    li.append(thumb, text, buttons);
    ul.append(li);
  }
}

async function loadArtworks() {
  try {
    const list = await api("/artworks");
    titles = Object.fromEntries(list.map((a) => [a.id, a.title]));
    renderArtworks(list);
    clearError("artworks");
  } catch (error) {
    if (error instanceof Locked) return showLocked();
    if (!(error instanceof NotAnswering)) showError(error.message, "artworks"); // a lost daemon: the status poll says so
    artworksReload = undefined; // fetched again at the next answer
  }
}

async function refreshUnseen() {
  try {
    const list = await api("/unseen");
    const ul = $("unseen");
    const shown = JSON.stringify(list);
    if (shown === unseenShown) return clearError("unseen"); // unchanged: a reader keeps its place
    unseenShown = shown;
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
    clearError("unseen");
  } catch (error) {
    // a lost daemon or a missing token is the status poll's to report
    if (!(error instanceof NotAnswering) && !(error instanceof Locked)) showError(error.message, "unseen");
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
    setText(state, `reloading… (asked for ${galleryTime(requestedAt)})`);
    return;
  }
  if (reloadPending !== null) return; // "reloading…" until a status asked for after the request
  $("reload").disabled = false;
  setText(state, !reload ? "as started" : reload.ok
    ? `reloaded ${galleryTime(reload.at)}${reload.restart_needed.length ? "; restart for " + reload.restart_needed.join(", ") : ""}`
    : `reload refused ${galleryTime(reload.at)}: ${reload.problems.join("; ")}`);
}

function render(status, asked) {
  timeZone = status.timezone || "UTC";
  unseenTitles = status.titles || {};
  const reloadedAt = status.reload && status.reload.ok ? status.reload.at : null;
  if (artworksReload !== reloadedAt) { // a reload applied: titles, artworks added or taken away
    artworksReload = reloadedAt;
    loadArtworks();
  }
  $("exhibit").textContent = status.exhibit;
  const closed = status.schedule && !status.schedule.open; // silent on purpose, not a problem
  const playing = label(status.playing == null && closed ? "silence" : status.playing);
  setText($("playing"), playing);
  announcePlaying(status, playing);
  const silent = $("audible");
  const until = closed && status.schedule.until ? ` until ${galleryTime(status.schedule.until)}` : "";
  silent.hidden = status.audible && !closed;
  silent.classList.toggle("closed", Boolean(closed));
  // an assertive live region: shown before it is written, and written only when it changes
  setText(silent, status.audible
    ? (closed ? "The room is closing by its opening hours: fading out" + until : "")
    : "Nothing reaches the speakers" + (closed
      ? ": the room is closed by its opening hours" + until
      : status.attention.length ? ": " + status.attention[0] : ""));
  setText($("why"), status.override
    ? "Fixed from this panel (the camera is ignored)"
    : "Following the camera");
  for (const [button, on] of [[$("follow"), !status.override], [$("idle"), status.override === "idle"]]) {
    button.classList.toggle("active", on);
    button.setAttribute("aria-pressed", String(on));
  }
  for (const li of $("artworks").children) {
    const current = li.dataset.id === status.playing;
    li.classList.toggle("playing", current);
    if (current) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
  const camera = status.camera;
  // a camera that stopped leaves its last frame and decision behind: they say nothing about the room now
  const age = camera ? camera.last_frame_age_s : null;
  const streaming = !camera || (camera.state === "streaming" && age != null && age <= STALE_FRAME_S);
  const vision = status.vision;
  const presence = status.presence;
  if (streaming) {
    $("vision").textContent = vision ? (vision.artwork === "none" ? "sees nothing" : vision.artwork === "unknown"
      // an unseen artwork is found by its frame, not by the recognizer: it has no score
      ? "a visitor, no artwork" : `sees ${label(vision.artwork)}${vision.artwork.startsWith("unseen:") ? ""
        : ` (score ${vision.score})`}`) : "—";
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
    // a ramp: "now" is on its way, not room × period; the target is said only where it is not the level shown
    $("volume-real").textContent = now !== target
      ? (period === null && target === Math.round(level * 100) ? `(ramping, now ${now} %)`
        : `(ramping to ${target} %${period !== null ? ` = room × period ${period} %` : ""}, now ${now} %)`)
      : `(now ${now} %${period !== null ? ` = room × period ${period} %` : ""})`;
    if (asked >= volumeAnsweredAt) roomLevel = Math.round(level * 100);
    if (!volumeDragging && $("volume-confirm").hidden && asked >= volumeAnsweredAt) {
      $("volume").value = roomLevel;
      setText($("volume-value"), roomLevel + " %");
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
  renderEvents(status.timeline);
  const causes = $("attention");
  const causesShown = JSON.stringify(status.attention);
  if (causesShown !== attentionShown) {
    attentionShown = causesShown;
    causes.replaceChildren(...status.attention.map((cause) => {
      const li = document.createElement("li");
      li.textContent = cause;
      return li;
    }));
  }
  causes.hidden = status.attention.length === 0;
  // the badge counts; the list under the header says what (it read 330 characters out every second)
  if (status.attention.length) setBadge(`attention (${status.attention.length})`, "bad", "#attention");
  else setBadge("running", "ok");
}

function announcePlaying(status, playing) {
  // one polite line per change of what plays, with why (the timeline's latest entry for it)
  const key = status.playing == null ? playing : status.playing;
  if (key === lastPlaying) return;
  lastPlaying = key;
  const latest = status.timeline.filter((event) => event.play === (status.playing ?? "silence")).pop();
  const why = latest && REASONS[latest.reason] ? ` (${REASONS[latest.reason]})` : "";
  setText($("now-said"), `Now playing ${playing}${why}`);
}

function renderEvents(timeline) {
  // redrawn only when the timeline changes: a rebuild every second lost a reader's place in it
  const shown = timeZone + JSON.stringify(timeline);
  if (shown === eventsShown) return;
  eventsShown = shown;
  const events = $("events");
  events.replaceChildren();
  for (const event of timeline.slice().reverse()) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = event.time;
    time.textContent = galleryTime(event.time);
    const why = event.play === "silence" && event.reason === "closed" ? ""
      : ` (${REASONS[event.reason] || event.reason})`;
    li.append(time, `${label(event.play)}${why}`);
    events.append(li);
  }
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
    setText(banner, `The art2mus daemon has not answered since ${galleryTime(lostSince.toISOString(), false)}: `
      + "what is shown is from then, and the room may be silent. This page reconnects by itself.");
    banner.hidden = false;
    setBadge("no connection", "bad");
    return;
  }
  if (lostSince !== null) {
    lostSince = null;
    document.body.classList.remove("stale");
    $("offline").hidden = true;
    artworksReload = undefined; // a restarted daemon may run another exhibit file
  }
  clearError("connection");
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
    const shown = JSON.stringify(records);
    if (shown === logsShown) return; // unchanged: a reader keeps its place
    logsShown = shown;
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
      error instanceof NotAnswering ? "connection" : "command");
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

async function setVolume(percent, button = null) {
  roomLevel = percent; // what the room was told: the next key press or step starts from it
  volumeAnsweredAt = Infinity;
  await command("/volume", { volume: percent / 100, ramp_seconds: 1 }, button, $("volume-result"));
  volumeAnsweredAt = Date.now();
}

function startVolume() {
  // the slider's track is 16 px tall: a tap beside it on a phone jumps anywhere. A jump of more than
  // VOLUME_JUMP_ASKED points in one tap or drag is asked about in the page; the arrow keys (1 point) and the
  // -/+ buttons (VOLUME_STEP) go straight through
  const volume = $("volume");
  const ask = $("volume-confirm");
  const shown = (percent) => setText($("volume-value"), percent + " %");
  const settle = () => {
    ask.hidden = true;
    volumeDragging = false; // the next answer shows the level the room plays at
  };
  volume.addEventListener("input", () => {
    volumeDragging = true;
    shown(volume.value);
  });
  volume.addEventListener("change", async () => {
    const wanted = Number(volume.value);
    if (roomLevel !== null && Math.abs(wanted - roomLevel) > VOLUME_JUMP_ASKED) {
      const from = roomLevel;
      volume.value = from; // the room keeps its level until the technician says yes
      shown(from);
      $("volume-question").textContent = `Set the room from ${from} % to ${wanted} %?`;
      $("volume-yes").textContent = `Set ${wanted} %`;
      $("volume-yes").dataset.wanted = wanted;
      $("volume-no").textContent = `Keep ${from} %`;
      ask.hidden = false;
      $("volume-no").focus(); // the safe answer under the thumb
      return;
    }
    await setVolume(wanted);
    settle();
  });
  $("volume-yes").addEventListener("click", async () => {
    const wanted = Number($("volume-yes").dataset.wanted);
    volume.value = wanted;
    shown(wanted);
    ask.hidden = true;
    volume.focus();
    await setVolume(wanted);
    settle();
  });
  $("volume-no").addEventListener("click", () => {
    settle();
    volume.value = roomLevel;
    shown(roomLevel);
    volume.focus();
  });
  for (const [id, step] of [["volume-down", -VOLUME_STEP], ["volume-up", VOLUME_STEP]]) {
    $(id).addEventListener("click", async () => {
      if (roomLevel === null) return;
      const wanted = Math.min(100, Math.max(0, roomLevel + step));
      settle();
      volume.value = wanted;
      shown(wanted);
      volumeDragging = true;
      await setVolume(wanted, $(id));
      volumeDragging = false;
    });
  }
}

async function start() {
  if (token) $("docs-link").href = withToken("/api/docs");
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    // kept for this tab only, never in the address; a wrong one brings the form back (showLocked)
    token = $("token-input").value.trim();
    try {
      sessionStorage.setItem("art2mus-token", token);
    } catch (error) { // storage refused: this page keeps it until it is closed
    }
    $("docs-link").href = withToken("/api/docs");
    $("token-form").hidden = true;
    showPanel(true);
    artworksReload = undefined;
    await refresh();
    refreshUnseen();
    refreshLogs();
  });
  refreshUnseen();
  every(10000, refreshUnseen);
  $("follow").addEventListener("click", () => command("/follow", {}, $("follow"), $("mode-result")));
  $("idle").addEventListener("click", () => command("/idle", {}, $("idle"), $("mode-result")));
  $("reload").addEventListener("click", reload);
  $("listen-idle").addEventListener("click", () => listen("idle", "the idle ambience"));
  $("log-level").addEventListener("change", () => {
    logsShown = null; // another level: drawn even if the records happen to match
    refreshLogs();
  });
  $("error-close").addEventListener("click", () => showError(""));
  startVolume();
  await refresh();
  refreshLive();
  refreshLogs();
  every(1000, refresh);
  every(1000, refreshLive);
  every(3000, refreshLogs);
}

start();
