// The result viewer: synchronised before/after players, wipe, alpha over a checkerboard, 1:1 crops,
// and for transcripts a captioned player with a transcript that seeks.
import { api, downloadExport } from "./api.js";
import { $, formatClock, h } from "./dom.js";

const PLAYABLE = { remove_background: (task) => (task.options || {}).output_format !== "mov" && (task.options || {}).output_format !== "png" };

export async function showResult(container, task) {
  let source = null;
  try {
    source = (await api(`/v1/tasks/${encodeURIComponent(task.id)}/source`)).url;
  } catch { /* the source is gone (retention) or was never ingested: show what we can */ }
  if (task.task_type === "transcribe") {
    container.replaceChildren(await transcriptViewer(task, source));
    return;
  }
  const playable = (PLAYABLE[task.task_type] || (() => true))(task);
  if (!playable) {
    container.replaceChildren(h("section", { class: "card" }, h("h2", { text: "Output" }),
      h("p", { text: "This format does not play in a browser; download it with the button above." })));
    return;
  }
  container.replaceChildren(compareViewer(task, source));
}

function video(label, src) {
  return h("video", { src, preload: "auto", muted: true, playsinline: true, "aria-label": label });
}

// One clock for every player: the "after" leads, the others follow within a tenth of a second.
class SyncedPlayers {
  constructor(lead, followers) {
    this.lead = lead;
    this.followers = followers;
    this.all = [lead, ...followers];
    for (const v of this.all) v.muted = true;
    lead.addEventListener("timeupdate", () => this.follow());
    lead.addEventListener("ended", () => this.pause());
  }
  follow() {
    for (const v of this.followers) {
      if (Math.abs(v.currentTime - this.lead.currentTime) > 0.1) v.currentTime = this.lead.currentTime;
    }
  }
  get playing() { return !this.lead.paused; }
  async play() {
    if (this.lead.ended) this.seek(0);
    await Promise.all(this.all.map((v) => v.play().catch(() => {})));
  }
  pause() { for (const v of this.all) v.pause(); this.follow(); }
  seek(time) { for (const v of this.all) v.currentTime = time; }
}

function transport(players, label) {
  const button = h("button", { type: "button", class: "play", "aria-label": "Play", text: "▶" });
  const seek = h("input", { type: "range", min: 0, max: 1000, value: 0, step: 1, id: `${label}-seek`, "aria-label": "Seek" });
  const clock = h("span", { class: "mono clock", text: "0:00.0 / 0:00.0" });
  const sync = () => {
    const duration = players.lead.duration || 0;
    if (duration) seek.value = String(Math.round((1000 * players.lead.currentTime) / duration));
    clock.textContent = `${formatClock(players.lead.currentTime)} / ${formatClock(duration)}`;
    button.textContent = players.playing ? "❚❚" : "▶";
    button.setAttribute("aria-label", players.playing ? "Pause" : "Play");
  };
  for (const event of ["timeupdate", "play", "pause", "loadedmetadata", "seeked"]) players.lead.addEventListener(event, sync);
  button.addEventListener("click", () => (players.playing ? players.pause() : players.play()));
  seek.addEventListener("input", () => players.seek(((players.lead.duration || 0) * Number(seek.value)) / 1000));
  return h("div", { class: "transport" }, button, seek, clock);
}

function compareViewer(task, sourceUrl) {
  const before = video("Before", sourceUrl);
  const after = video("After", task.output.url);
  const afterFrame = h("div", { class: "frame after-frame" }, after);
  const stage = h("div", { class: "stage side" },
    h("figure", { class: "pane before-pane" }, h("figcaption", { text: "Before" }), h("div", { class: "frame" }, before)),
    h("figure", { class: "pane after-pane" }, h("figcaption", { text: "After" }), afterFrame));
  const wipe = h("input", { type: "range", id: "wipe", min: 0, max: 100, value: 50, step: 1 });
  const setWipe = () => stage.style.setProperty("--wipe", `${wipe.value}%`);
  wipe.addEventListener("input", setWipe);
  setWipe();
  const wipeRow = h("div", { class: "wipe-row", hidden: true }, h("label", { for: "wipe", text: "Wipe position" }), wipe);
  const modes = h("div", { class: "segmented", role: "radiogroup", "aria-label": "Comparison" },
    ...[["side", "Side by side"], ["wipe", "Wipe"]].map(([value, text]) => h("label", {},
      h("input", {
        type: "radio", name: "compare-mode", value, checked: value === "side",
        onchange: () => {
          stage.classList.toggle("wipe", value === "wipe");
          stage.classList.toggle("side", value === "side");
          wipeRow.hidden = value !== "wipe";
        },
      }), h("span", { text }))));
  const followers = [before];
  const extras = [];
  if (task.task_type === "remove_background") {
    afterFrame.classList.add("checker");
    extras.push(backgroundPicker(afterFrame));
  }
  if (task.task_type === "super_resolution") {
    const crops = cropViewer(task, sourceUrl, after);
    followers.push(...crops.videos);
    extras.push(crops.element);
  }
  const players = new SyncedPlayers(after, followers);
  return h("section", { class: "card", "aria-labelledby": "compare-title" },
    h("div", { class: "view-head" }, h("h2", { id: "compare-title", text: "Before and after" }), modes),
    stage, wipeRow, transport(players, "compare"), ...extras);
}

function backgroundPicker(frame) {
  const colour = h("input", { type: "color", id: "bg-colour", value: "#22c55e" });
  const checker = h("button", { type: "button", class: "small", text: "Checkerboard" });
  colour.addEventListener("input", () => {
    frame.classList.remove("checker");
    frame.style.backgroundColor = colour.value;
  });
  checker.addEventListener("click", () => {
    frame.classList.add("checker");
    frame.style.backgroundColor = "";
  });
  return h("div", { class: "tool-row" }, h("span", { class: "muted", text: "Background behind the alpha:" }),
    checker, h("label", { for: "bg-colour", text: "Colour" }), colour);
}

// 1:1 crops: the output at its own pixels next to the source blown up (nearest neighbour) to the same size.
function cropViewer(task, sourceUrl, afterVideo) {
  const width = task.output.width || 0;
  const height = task.output.height || 0;
  const sourceCrop = h("video", { src: sourceUrl, preload: "auto", muted: true, playsinline: true, class: "pixelated", "aria-label": "Source, enlarged" });
  const outputCrop = h("video", { src: task.output.url, preload: "auto", muted: true, playsinline: true, "aria-label": "Output at 1:1" });
  const x = h("input", { type: "range", id: "crop-x", min: 0, max: 100, value: 50 });
  const y = h("input", { type: "range", id: "crop-y", min: 0, max: 100, value: 50 });
  const place = () => {
    const size = outputCrop.parentElement ? outputCrop.parentElement.clientWidth || 220 : 220;
    // keep the box inside the picture (or centre a side the box is larger than)
    const clamp = (c, total) => (total <= size ? total / 2 : Math.min(Math.max(c, size / 2), total - size / 2));
    const cx = clamp((width * Number(x.value)) / 100, width);
    const cy = clamp((height * Number(y.value)) / 100, height);
    for (const v of [sourceCrop, outputCrop]) {
      v.style.width = `${width}px`;
      v.style.height = `${height}px`;
      v.style.transform = `translate(${size / 2 - cx}px, ${size / 2 - cy}px)`;
    }
  };
  x.addEventListener("input", place);
  y.addEventListener("input", place);
  outputCrop.addEventListener("loadedmetadata", place);
  window.addEventListener("resize", place);
  afterVideo.addEventListener("click", (event) => {
    const box = afterVideo.getBoundingClientRect();
    x.value = String(Math.round((100 * (event.clientX - box.left)) / box.width));
    y.value = String(Math.round((100 * (event.clientY - box.top)) / box.height));
    place();
  });
  place();
  const element = h("div", { class: "crops" },
    h("h3", { text: "Detail at 1:1 pixels" }),
    h("p", { class: "hint", text: "Click the after video, or move the sliders, to choose where to look." }),
    h("div", { class: "crop-pair" },
      h("figure", {}, h("div", { class: "crop" }, sourceCrop), h("figcaption", { text: `Source ×${(task.options || {}).scale || ""} (nearest neighbour)` })),
      h("figure", {}, h("div", { class: "crop" }, outputCrop), h("figcaption", { text: `Output ${width}×${height}` }))),
    h("div", { class: "tool-row" }, h("label", { for: "crop-x", text: "Across" }), x, h("label", { for: "crop-y", text: "Down" }), y));
  return { element, videos: [sourceCrop, outputCrop] };
}

// Phrases to click: utterances when the engine labelled speakers, else words up to a sentence end or pause.
function phrases(transcript) {
  if (transcript.utterances && transcript.utterances.length) {
    return transcript.utterances.map((u) => ({ start: u.start, end: u.end, text: u.text, speaker: u.speaker }));
  }
  const result = [];
  let current = null;
  for (const word of transcript.words || []) {
    if (!current || word.start - current.end > 1 || current.count >= 12) {
      current = { start: word.start, end: word.end, text: word.text, count: 1 };
      result.push(current);
    } else {
      current.text += ` ${word.text}`;
      current.end = word.end;
      current.count += 1;
    }
    if (/[.!?]$/.test(word.text)) current = null;
  }
  return result;
}

async function transcriptViewer(task, sourceUrl) {
  const path = `/v1/tasks/${encodeURIComponent(task.id)}/transcript`;
  const [transcript, vtt] = await Promise.all([
    api(path),
    api(path, { query: { format: "vtt" }, raw: true }).then((r) => r.blob()),
  ]);
  const player = h("video", { src: sourceUrl, controls: true, preload: "auto", playsinline: true, id: "transcript-player", "aria-label": "Source with captions" },
    h("track", { kind: "captions", label: transcript.language_code || "captions", srclang: transcript.language_code || "en", src: URL.createObjectURL(vtt), default: true }));
  const items = phrases(transcript).map((phrase) => h("li", {},
    h("button", {
      type: "button", class: "phrase", dataset: { start: phrase.start, end: phrase.end },
      onclick: () => { player.currentTime = phrase.start; player.play().catch(() => {}); },
    }, h("span", { class: "mono stamp", text: formatClock(phrase.start) }),
    phrase.speaker ? h("strong", { text: `${phrase.speaker}: ` }) : null, h("span", { text: phrase.text }))));
  const list = h("ol", { class: "transcript", "aria-label": "Transcript; choose a line to play from there" }, ...items);
  player.addEventListener("timeupdate", () => {
    for (const button of list.querySelectorAll(".phrase")) {
      const active = player.currentTime >= Number(button.dataset.start) && player.currentTime < Number(button.dataset.end) + 0.3;
      button.classList.toggle("active", active);
    }
  });
  const downloads = h("div", { class: "tool-row" }, h("span", { class: "muted", text: "Download:" }),
    ...[["srt", "SRT"], ["vtt", "VTT"], ["json", "JSON"], ["text", "Text"]].map(([format, text]) => h("button", {
      type: "button", class: "small", text,
      onclick: () => downloadExport(path, { format }, `${task.id}.${format === "text" ? "txt" : format}`),
    })));
  const unavailable = Object.entries(transcript.unavailable || {});
  return h("section", { class: "card", "aria-labelledby": "transcript-title" },
    h("h2", { id: "transcript-title", text: "Transcript" }),
    h("div", { class: "transcript-layout" }, h("div", { class: "player" }, player), list),
    downloads,
    unavailable.length ? h("p", { class: "hint", text: `Not available from this engine: ${unavailable.map(([k, why]) => `${k} (${why})`).join("; ")}` }) : null);
}

// Content Credentials (C2PA) of the output, when the deployment signs outputs; hidden otherwise.
export async function showCredentials(panel, task) {
  let credentials;
  try {
    credentials = await api(`/v1/tasks/${encodeURIComponent(task.id)}/credentials`);
  } catch {
    panel.hidden = true;
    return;
  }
  const signer = credentials.signer || {};
  const signedBy = [signer.common_name, signer.organization].filter(Boolean).join(", ");
  const rows = [["State", credentials.state], ["Format", credentials.format], ["Signer", signedBy],
    ["Algorithm", signer.alg], ["Signed at", signer.time], ["Claim generator", credentials.claim_generator],
    ["Validation notes", (credentials.validation_codes || []).join(", ")]];
  const summary = rows.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]);
  if (credentials.sidecar_url) {
    summary.push(h("dt", { text: "Manifest" }), h("dd", {}, h("a", { href: credentials.sidecar_url, text: "Download the sidecar manifest" })));
  }
  $("#credentials-summary", panel).replaceChildren(...summary);
  const sourceType = (uri) => (uri ? uri.split("/").pop() : "");
  const action = (a) => [a.action, sourceType(a.digital_source_type), a.software_agent].filter(Boolean).join(" · ");
  const ingredient = (i) => [i.title || i.format, i.relationship, i.has_credentials ? "with its own credentials" : "",
    i.sha256 ? `sha256 ${i.sha256.slice(0, 12)}…` : ""].filter(Boolean).join(" · ");
  $("#credentials-actions", panel).replaceChildren(...(credentials.actions || []).map((a) => h("li", { text: action(a) })));
  $("#credentials-ingredients", panel).replaceChildren(...(credentials.ingredients || []).map((i) => h("li", { text: ingredient(i) })));
  panel.hidden = false;
}
