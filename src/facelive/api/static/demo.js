// The demo page: one photo (file, drop or camera) -> POST /api/face_liveness/v1 -> what came
// back, drawn. The photo stays in this page's memory and goes only to this server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "facelive.appcode";
  const MAX_DRAW_SIDE = 1280; // the canvas copy of the photo; the API gets the original
  const COLOURS = { 200: "#1a7f37", 4004: "#cf222e", 4005: "#bf8700" };
  let photo = null; // {dataUrl, base64}
  let sequence = 0; // answers to older requests are dropped
  let runs = 0;
  let stream = null;

  const appcode = $("appcode");
  appcode.value = sessionStorage.getItem(KEY) || "";
  appcode.addEventListener("input", () => sessionStorage.setItem(KEY, appcode.value.trim()));

  const slider = $("thresh");
  const thresh = () => Number(slider.value);
  function showThresh() {
    $("thresh-value").textContent = thresh().toFixed(2);
    $("score-thresh").textContent = thresh().toFixed(2);
    $("gauge-thresh").style.left = thresh() * 100 + "%";
  }
  slider.addEventListener("input", showThresh);
  slider.addEventListener("change", () => photo && check());
  showThresh();

  // --- choosing a photo -------------------------------------------------------------------
  $("file").addEventListener("change", (e) => e.target.files[0] && load(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) load(file);
  });

  function load(file) {
    const reader = new FileReader();
    reader.onload = () => use(String(reader.result));
    reader.onerror = () => localError("This file could not be read.", "无法读取该文件。");
    reader.readAsDataURL(file);
  }

  function use(dataUrl) {
    photo = { dataUrl, base64: dataUrl.slice(dataUrl.indexOf(",") + 1) };
    check();
  }

  // --- camera (degrades to a note where there is none, or no permission) ----------------------
  const cameraButton = $("camera-start");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    cameraButton.disabled = true;
    $("camera-note").textContent =
      "No camera here: browsers allow it only over HTTPS or on localhost. Choose a file instead.";
  }
  cameraButton.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
    } catch (err) {
      $("camera-note").textContent = "Camera unavailable: " + (err && err.message ? err.message : err);
      return;
    }
    $("video").srcObject = stream;
    $("camera").hidden = false;
    $("camera-note").textContent = "";
  });
  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("camera").hidden = true;
  }
  $("camera-stop").addEventListener("click", stopCamera);
  $("snap").addEventListener("click", () => {
    const video = $("video");
    if (!video.videoWidth) return;
    const c = document.createElement("canvas");
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    stopCamera();
    use(c.toDataURL("image/jpeg", 0.92));
  });

  // --- the check ------------------------------------------------------------------------------
  async function check() {
    const code = appcode.value.trim();
    if (!code) {
      localError("Enter your APPCODE first.", "请先输入AppCode。");
      appcode.focus();
      return;
    }
    const mine = ++sequence;
    const result = $("result");
    result.hidden = false;
    result.dataset.state = "busy";
    const started = performance.now();
    let status = 0;
    let envelope;
    try {
      const response = await fetch("/api/face_liveness/v1", {
        method: "POST",
        headers: { Authorization: "APPCODE " + code, "Content-Type": "application/json" },
        body: JSON.stringify({ image_base64: photo.base64, thresh: thresh() }),
      });
      status = response.status;
      const text = await response.text();
      try {
        envelope = JSON.parse(text);
      } catch (_) {
        envelope = { code: status, msg: "HTTP " + status + ": not JSON", msg_cn: "", data: null };
      }
    } catch (err) {
      envelope = { code: 0, msg: "The server could not be reached: " + err, msg_cn: "无法连接服务器", data: null };
    }
    if (mine !== sequence) return;
    await show(envelope, performance.now() - started);
  }

  function localError(msg, msgCn) {
    $("result").hidden = false;
    showError({ code: "", msg, msg_cn: msgCn });
  }

  function showError(env) {
    $("error").hidden = false;
    $("error-code").textContent = env.code ? String(env.code) : "";
    $("error-msg").textContent = env.msg || "";
    $("error-msg-cn").textContent = env.msg_cn || "";
  }

  async function show(env, latencyMs) {
    const data = env.data || null;
    const result = $("result");
    runs += 1;
    $("raw").textContent = JSON.stringify(env, null, 2);
    $("request-id").textContent = env.request_id || "–";
    $("latency").textContent = Math.round(latencyMs) + " ms";

    const [en, cn] = window.facelive.codeName(env.code);
    const verdict = $("verdict");
    verdict.textContent = en + " / " + cn;
    verdict.className = "verdict " + (env.code === 200 ? "live" : data ? "not-live" : "failed");
    if (env.code === 4005) verdict.className = "verdict retake";

    $("error").hidden = true;
    if (!data || env.code === 4005) showError(env);

    const score = data ? data.liveness_score : null;
    $("score").textContent = score === null ? "–" : score.toFixed(4);
    const fill = $("gauge-fill");
    fill.style.width = (score === null ? 0 : score * 100) + "%";
    fill.className = "gauge-fill " + (data && data.is_live ? "live" : "not-live");

    const reasons = $("reasons");
    reasons.replaceChildren();
    const tokens = data && data.risk_reason ? data.risk_reason.split(",") : [];
    for (const token of tokens) {
      const [reasonEn, reasonCn] = window.facelive.risk(token);
      const li = document.createElement("li");
      li.dataset.reason = token;
      const main = document.createElement("span");
      main.textContent = reasonEn;
      const second = document.createElement("span");
      second.className = "cn";
      second.textContent = reasonCn;
      li.append(main, second);
      reasons.append(li);
    }

    await draw(data, COLOURS[env.code] || "#0969da");
    result.dataset.code = String(env.code);
    result.dataset.runs = String(runs);
    result.dataset.state = "done";
  }

  // --- the photo with the face box and the five landmarks --------------------------------------
  async function draw(data, colour) {
    const canvas = $("photo");
    const img = new Image();
    img.src = photo.dataUrl;
    try {
      await img.decode();
    } catch (_) {
      canvas.width = 1;
      canvas.height = 1;
      canvas.dataset.box = "";
      return; // the browser cannot show it; the server's answer says why
    }
    const scale = Math.min(1, MAX_DRAW_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    canvas.width = Math.round(img.naturalWidth * scale);
    canvas.height = Math.round(img.naturalHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    if (!data || !data.face) {
      canvas.dataset.box = "";
      return;
    }
    // The API's pixels are those of the image it decoded; map them onto this canvas.
    const k = canvas.width / data.image_width;
    const [x, y, w, h] = data.face.box.map((v) => v * k);
    const line = Math.max(3, Math.round(canvas.width / 200));
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    ctx.fillStyle = "#ffd33d";
    for (const [px, py] of data.face.landmarks) {
      ctx.beginPath();
      ctx.arc(px * k, py * k, line * 1.2, 0, 2 * Math.PI);
      ctx.fill();
    }
    canvas.dataset.box = JSON.stringify([x, y, w, h].map((v) => Math.round(v * 10) / 10));
    canvas.dataset.lineWidth = String(line);
    canvas.dataset.landmarks = String(data.face.landmarks.length);
  }
})();
