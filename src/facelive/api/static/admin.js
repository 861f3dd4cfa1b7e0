// The operator console: keys, limits, usage and recent requests through /admin/api, with the
// admin token as a Bearer token kept in sessionStorage. Everything is also `facelive keys`.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN = "facelive.admin_token";
  const SVG = "http://www.w3.org/2000/svg";
  const CODE_COLOURS = { 200: "#1a7f37", 4004: "#cf222e", 4005: "#bf8700", 4029: "#8250df" };
  let token = sessionStorage.getItem(TOKEN) || "";

  class ApiError extends Error {
    constructor(envelope, status) {
      super(envelope.msg || "HTTP " + status);
      this.envelope = envelope;
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const response = await fetch("/admin/api" + path, {
      method,
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let envelope;
    try {
      envelope = await response.json();
    } catch (_) {
      envelope = { code: response.status, msg: "HTTP " + response.status, msg_cn: "" };
    }
    if (!envelope.success) throw new ApiError(envelope, response.status);
    return envelope.data;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function notify(message, isError) {
    const notice = $("notice");
    notice.hidden = !message;
    notice.textContent = message || "";
    notice.className = isError ? "notice error" : "notice";
  }

  function failed(err) {
    if (err instanceof ApiError && err.status === 401) return signOut(err.envelope);
    const env = err.envelope || {};
    notify((env.code ? env.code + ": " : "") + err.message + (env.msg_cn ? " / " + env.msg_cn : ""), true);
  }

  // --- signing in ---------------------------------------------------------------------------
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    signIn();
  });
  $("signout").addEventListener("click", () => signOut(null));

  async function signIn() {
    try {
      await refreshKeys();
    } catch (err) {
      return err instanceof ApiError ? signOut(err.envelope) : failed(err);
    }
    sessionStorage.setItem(TOKEN, token);
    $("login").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    await Promise.all([refreshUsage(), refreshRecent()]).catch(failed);
  }

  function signOut(envelope) {
    sessionStorage.removeItem(TOKEN);
    token = "";
    $("app").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.hidden = !envelope;
    if (envelope) error.textContent = envelope.code + ": " + envelope.msg + " / " + envelope.msg_cn;
  }

  // --- keys ---------------------------------------------------------------------------------
  $("create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const issued = await api("POST", "/keys", { name: $("new-name").value });
      showIssued(issued);
      $("new-name").value = "";
      await refreshKeys();
      notify("Created " + issued.id + ".");
    } catch (err) {
      failed(err);
    }
  });
  $("issued-done").addEventListener("click", () => showIssued(null));

  function showIssued(issued) {
    $("issued").hidden = !issued;
    $("issued-id").textContent = issued ? issued.id : "";
    $("issued-appcode").textContent = issued ? issued.appcode : "";
    $("issued-app-key").textContent = issued ? issued.app_key : "";
    $("issued-app-secret").textContent = issued ? issued.app_secret : "";
  }

  function limitInput(name, value, fallback, step) {
    const input = el("input", null, {
      type: "number", min: step === "1" ? "1" : "0.01", step, name,
      placeholder: fallback === null || fallback === undefined ? "none" : String(fallback),
      "aria-label": name,
    });
    input.value = value === null ? "" : String(value);
    return input;
  }

  async function refreshKeys() {
    const { keys, defaults } = await api("GET", "/keys");
    $("defaults").textContent =
      "Empty limit fields use the server defaults: " +
      (defaults.rps ? defaults.rps + " requests/s, bursts of " + defaults.burst : "no rate limit") +
      ", no daily quota.";
    const body = $("keys").tBodies[0];
    body.replaceChildren();
    const select = $("usage-key");
    const chosen = select.value;
    select.replaceChildren(el("option", "all keys", { value: "" }));
    for (const key of keys) {
      select.append(el("option", key.id + " (" + key.name + ")", { value: key.id }));
      const row = el("tr", null, { "data-key-id": key.id });
      row.className = key.revoked_at ? "revoked" : "";
      const state = key.revoked_at ? "revoked " + key.revoked_at.slice(0, 10) : "active";
      const id = el("td");
      id.append(el("code", key.id));
      row.append(id, el("td", key.name), el("td", state, { class: "state" }), el("td", key.used_today));
      const rps = limitInput("rps", key.limits.rps, defaults.rps, "any");
      const burst = limitInput("burst", key.limits.burst, defaults.burst, "1");
      const daily = limitInput("daily_quota", key.limits.daily_quota, null, "1");
      for (const input of [rps, burst, daily]) {
        const cell = el("td");
        cell.append(input);
        row.append(cell);
      }
      const actions = el("td", null, { class: "actions" });
      const save = el("button", "Save limits", { type: "button", "data-action": "limits" });
      save.addEventListener("click", () => saveLimits(key.id, rps, burst, daily));
      actions.append(save);
      if (!key.revoked_at) {
        const rotate = el("button", "Rotate", { type: "button", "data-action": "rotate" });
        rotate.addEventListener("click", () => act(key, "rotate"));
        const revoke = el("button", "Revoke", { type: "button", "data-action": "revoke", class: "danger" });
        revoke.addEventListener("click", () => act(key, "revoke"));
        actions.append(rotate, revoke);
      }
      row.append(actions);
      body.append(row);
    }
    select.value = chosen;
  }

  const number = (input) => (input.value.trim() === "" ? null : Number(input.value));

  async function saveLimits(keyId, rps, burst, daily) {
    try {
      await api("PUT", "/keys/" + encodeURIComponent(keyId) + "/limits", {
        rps: number(rps), burst: number(burst), daily_quota: number(daily),
      });
      await refreshKeys();
      notify("Limits of " + keyId + " saved; they apply from the next request.");
    } catch (err) {
      failed(err);
    }
  }

  async function act(key, action) {
    const question = action === "revoke"
      ? "Revoke " + key.id + " (" + key.name + ")? Its requests fail at once; this cannot be undone."
      : "Rotate " + key.id + " (" + key.name + ")? Its old AppCode and AppSecret stop working at once.";
    if (!window.confirm(question)) return;
    try {
      const result = await api("POST", "/keys/" + encodeURIComponent(key.id) + "/" + action);
      if (action === "rotate") showIssued(result);
      await refreshKeys();
      notify((action === "revoke" ? "Revoked " : "Rotated ") + key.id + ".");
    } catch (err) {
      failed(err);
    }
  }

  // --- usage chart (inline SVG, stacked bars per UTC day) -------------------------------------
  $("usage-key").addEventListener("change", () => refreshUsage().catch(failed));
  $("usage-days").addEventListener("change", () => refreshUsage().catch(failed));

  function days(since, until) {
    const out = [];
    for (let d = new Date(since + "T00:00:00Z"); d <= new Date(until + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + 1)) {
      out.push(d.toISOString().slice(0, 10));
    }
    return out;
  }

  function colour(code) {
    if (CODE_COLOURS[code]) return CODE_COLOURS[code];
    return code >= 5000 ? "#1f2328" : code >= 4010 && code <= 4012 ? "#8c959f" : "#0969da";
  }

  async function refreshUsage() {
    const key = $("usage-key").value;
    const query = "?days=" + $("usage-days").value + (key ? "&key_id=" + encodeURIComponent(key) : "");
    const report = await api("GET", "/usage" + query);
    const labels = days(report.since, report.until);
    const totals = new Map(labels.map((d) => [d, new Map()]));
    const codes = new Set();
    for (const row of report.rows) {
      const day = totals.get(row.day);
      if (!day) continue;
      day.set(row.code, (day.get(row.code) || 0) + row.count);
      codes.add(row.code);
    }
    const sorted = [...codes].sort((a, b) => a - b);
    const max = Math.max(1, ...[...totals.values()].map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
    const W = 640, H = 220, left = 40, bottom = 24, top = 10;
    const svg = $("usage-chart");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.replaceChildren();
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    const plotH = H - bottom - top;
    add("line", { x1: left, y1: top + plotH, x2: W, y2: top + plotH, class: "axis" });
    add("text", { x: left - 6, y: top + 8, "text-anchor": "end", class: "tick" }, String(max));
    add("text", { x: left - 6, y: top + plotH, "text-anchor": "end", class: "tick" }, "0");
    const slot = (W - left) / labels.length;
    labels.forEach((day, i) => {
      let y = top + plotH;
      for (const code of sorted) {
        const count = totals.get(day).get(code) || 0;
        if (!count) continue;
        const h = (count / max) * plotH;
        y -= h;
        const rect = add("rect", {
          x: left + i * slot + slot * 0.15, y, width: slot * 0.7, height: h,
          fill: colour(code), "data-day": day, "data-code": code, "data-count": count,
        });
        const title = document.createElementNS(SVG, "title");
        title.textContent = day + ": " + count + " × " + code;
        rect.append(title);
      }
      const every = Math.ceil(labels.length / 10);
      if (i % every === 0 || i === labels.length - 1) {
        add("text", { x: left + i * slot + slot / 2, y: H - 6, "text-anchor": "middle", class: "tick" }, day.slice(5));
      }
    });
    const legend = $("usage-legend");
    legend.replaceChildren();
    for (const code of sorted) {
      const item = el("li");
      const swatch = el("span", null, { class: "swatch" });
      swatch.style.background = colour(code);
      const [en, cn] = window.facelive.codeName(code);
      item.append(swatch, el("span", code + " " + en + " / " + cn));
      legend.append(item);
    }
    if (!sorted.length) legend.append(el("li", "No requests in this period. / 此期间无请求。"));
  }

  // --- recent requests ------------------------------------------------------------------------
  $("refresh").addEventListener("click", () =>
    Promise.all([refreshKeys(), refreshUsage(), refreshRecent()]).catch(failed));

  async function refreshRecent() {
    const rows = await api("GET", "/recent?limit=100");
    const body = $("recent").tBodies[0];
    body.replaceChildren();
    for (const r of rows) {
      const row = el("tr", null, { "data-code": r.code });
      const time = r.at.replace("T", " ").slice(0, 19);
      const code = el("td", r.code);
      code.style.color = colour(r.code);
      row.append(
        el("td", time), el("td", r.key_id), code,
        el("td", r.score === null ? "–" : r.score.toFixed(4)),
        el("td", r.latency_ms.toFixed(1)), el("td", r.request_id, { class: "mono" }),
      );
      body.append(row);
    }
    if (!rows.length) {
      const empty = el("tr");
      empty.append(el("td", "No requests yet. / 暂无请求。", { colspan: "6" }));
      body.append(empty);
    }
  }

  if (token) signIn();
})();
