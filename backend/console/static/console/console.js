/* 指挥中心控制台 — the command-room console and the secretary's desk.
 *
 * Plain JavaScript, no build step, no library: every page is a shell rendered by Django
 * (templates/console/page.html) and this file fills it from the same JSON API the phones
 * use, with the signed-in user's own token. Nothing here decides who may see or do what:
 * the API answers 404/403/409 and this file shows what it answered.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const IDLE_MS = Number(document.body.dataset.idleMinutes || 30) * 60 * 1000;
  const store = window.sessionStorage;
  const lang = localStorage.getItem("console.lang") === "en" ? "en" : "zh";
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";

  // ---- words -------------------------------------------------------------------------
  const WORDS = {
    app: ["指挥中心", "Command centre"],
    room: ["指挥室", "Command room"],
    triage: ["分拣", "Triage"],
    desk: ["审批台", "Approvals"],
    apiDocs: ["接口文档", "API docs"],
    logout: ["退出", "Sign out"],
    signIn: ["登录", "Sign in"],
    username: ["用户名", "Username"],
    password: ["密码", "Password"],
    signInFailed: ["登录失败", "Sign-in failed"],
    idleExpired: ["长时间未操作，已自动退出，请重新登录", "Signed out after a period of inactivity; please sign in again"],
    queues: ["待办队列", "Queues"],
    q_to_triage: ["待分拣", "To triage"],
    q_overdue: ["已超期", "Overdue"],
    q_to_approve: ["待审批", "To approve"],
    q_my_tasks: ["我的任务", "My tasks"],
    kpis: ["考核指标", "KPIs"],
    meToo: ["我也遇到", "Me too"],
    publicRow: ["公开", "Public"], internalRow: ["内部", "Internal"],
    kpi_new: ["新增事件", "New events"], kpi_closed: ["办结", "Closed"], kpi_completion_rate: ["办结率", "Completion"],
    kpi_on_time_rate: ["按期结案率", "On time"], kpi_satisfaction_rate: ["满意率", "Satisfaction"],
    kpi_overdue_now: ["当前超期", "Overdue now"], kpi_rework_rate: ["返工率", "Rework"], kpi_tip_share: ["群众爆料占比", "Residents' tips"],
    kpisUnavailable: ["指标服务暂不可用（尚未部署）", "KPIs are not available (the KPI service is not installed)"],
    trend: ["趋势", "Trend"],
    map: ["网格地图", "Grid map"],
    colours: ["五色预警", "Warning colours"],
    coloursUnavailable: ["预警颜色暂不可用", "Warning colours are not available"],
    feed: ["实时动态", "Live feed"],
    feedEmpty: ["打开本页以来暂无变化", "No change since this page was opened"],
    lastHour: ["近一小时有变化的事件", "Changed in the last hour"],
    none: ["无", "None"],
    live: ["实时连接", "Live"],
    offline: ["连接中断，正在重连", "Disconnected, reconnecting"],
    history: ["操作记录", "History"],
    chainOk: ["哈希链已验证", "Hash chain verified"],
    chainBad: ["哈希链异常", "Hash chain broken"],
    rows: ["条", "rows"],
    photos: ["照片（处置前 / 处置后）", "Photos (before / after)"],
    before: ["处置前", "Before"],
    after: ["处置后", "After"],
    noPhoto: ["无照片", "No photo"],
    evidenceComplete: ["证据已齐", "Evidence complete"],
    evidenceMissing: ["证据未齐", "Evidence incomplete"],
    steps: ["可执行操作", "Steps you may take"],
    noSteps: ["当前没有可执行的操作", "No step is open to you now"],
    submit: ["提交", "Submit"],
    done: ["已完成", "Done"],
    location: ["位置", "Location"],
    state: ["状态", "State"],
    category: ["类别", "Category"],
    grid: ["网格", "Grid"],
    deadline: ["期限", "Deadline"],
    reportedAt: ["上报时间", "Reported"],
    description: ["描述", "Description"],
    address: ["地址", "Address"],
    result: ["处置结果", "Result"],
    level: ["层级", "Level"],
    overdueMark: ["超期", "Overdue"],
    targetsUnavailable: ["派单目录暂不可用，请直接填写编号", "The dispatch directory is not available; enter the ids"],
    suggested: ["建议", "suggested"],
    approve: ["通过结案", "Approve"],
    rework: ["返工", "Send back"],
    reasonRequired: ["返工须填写理由", "A reason is required to send back"],
    deskEmpty: ["没有待审批的结案", "Nothing to approve"],
    deskKeys: ["快捷键：J/K 上下条，A 通过，R 返工（填写理由后 Ctrl+Enter 提交）", "Keys: J/K next/previous, A approve, R send back (type the reason, then Ctrl+Enter)"],
    duplicates: ["疑似重复", "Likely duplicates"],
    mergeInto: ["合并到所选事件", "Merge into the chosen one"],
    merged: ["已合并", "Merged"],
    accept: ["受理", "Accept"],
    open: ["打开", "Open"],
    triageEmpty: ["没有待分拣的事件", "Nothing to triage"],
    single: ["其他待分拣", "Other events to triage"],
    error: ["出错了", "Error"],
    loading: ["加载中…", "Loading…"],
    language: ["English", "中文"],
  };
  const STATES = {
    reported: ["已上报", "Reported"], accepted: ["已受理", "Accepted"], rejected: ["已驳回", "Rejected"],
    merged: ["已合并", "Merged"], dispatched: ["已派遣", "Dispatched"], returned: ["已退回", "Returned"],
    in_progress: ["处置中", "In progress"], awaiting_evidence: ["待补照片", "Awaiting evidence"],
    handled: ["已处置", "Handled"], closed: ["已结案", "Closed"], evaluated: ["已评价", "Evaluated"],
    parked: ["已挂账", "Parked"],
  };
  const FIELDS = {
    note: ["说明", "Note"], reason: ["理由（必填）", "Reason (required)"], into: ["并入事件编号（ID）", "Merge into (event id)"],
    platform_id: ["平台", "Platform"], unit_id: ["下沉单位", "Stationed unit"], department_id: ["部门", "Department"], grid_worker_id: ["网格员", "Grid worker"],
    deadline_at: ["期限", "Deadline"], until: ["延至", "Until"], satisfaction: ["满意度", "Satisfaction"],
    comment: ["评价说明", "Comment"], result_note: ["处置结果", "Result"], description: ["描述", "Description"],
    address_text: ["地址", "Address"], severity: ["严重程度", "Severity"],
  };
  const pick = (pair) => (pair ? pair[lang === "en" ? 1 : 0] : "");
  const t = (key) => pick(WORDS[key]) || key;
  // The KPI tiles of the command room, in order, and which of them are rates (docs/kpis.md).
  const KPI_TILES = ["new", "closed", "completion_rate", "on_time_rate", "satisfaction_rate", "overdue_now", "rework_rate", "tip_share"];
  const KPI_RATES = new Set(["completion_rate", "on_time_rate", "satisfaction_rate", "rework_rate", "tip_share"]);
  const stateLabel = (state) => pick(STATES[state]) || state;

  // ---- small DOM helpers ---------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (selector) => document.querySelector(selector);
  const fmtTime = (iso) => {
    if (!iso) return "";
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  };
  function panel(id, title, ...children) {
    return h("section", { class: "panel", id }, h("h2", {}, title), ...children);
  }
  function showError(where, error) {
    const message = error && error.body ? error.body.message || error.body.code : String(error);
    const detail = error && error.body && error.body.detail ? " " + JSON.stringify(error.body.detail) : "";
    where.replaceChildren(h("p", { class: "error", role: "alert" }, `${t("error")}: ${message}${detail}`));
  }

  // ---- signing in, tokens, idle expiry -------------------------------------------------
  function deviceId() {
    let id = localStorage.getItem("console.device");
    if (!id) {
      id = "console-" + (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
      localStorage.setItem("console.device", id);
    }
    return id;
  }
  const auth = {
    get: () => JSON.parse(store.getItem("console.auth") || "null"),
    set: (tokens) => store.setItem("console.auth", JSON.stringify(tokens)),
    clear: () => store.removeItem("console.auth"),
  };
  function touch() {
    store.setItem("console.active", String(Date.now()));
  }
  function toLogin(reason) {
    auth.clear();
    const next = location.pathname === "/console/login" ? "/console/" : location.pathname;
    location.assign(`/console/login?next=${encodeURIComponent(next)}${reason ? "&why=" + reason : ""}`);
  }
  function checkIdle() {
    const last = Number(store.getItem("console.active") || 0);
    if (auth.get() && last && Date.now() - last > IDLE_MS) {
      logout("idle");
      return false;
    }
    return true;
  }

  let refreshing = null;
  async function refresh() {
    const tokens = auth.get();
    if (!tokens) return false;
    refreshing = refreshing || fetch(`${API}/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: tokens.refresh_token, device_id: deviceId() }),
    }).then(async (response) => {
      if (!response.ok) return false;
      auth.set(await response.json());
      return true;
    }).finally(() => { refreshing = null; });
    return refreshing;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  async function api(path, { method = "GET", body, retry = true } = {}) {
    const tokens = auth.get();
    const headers = { "Accept-Language": lang === "en" ? "en" : "zh-hans" };
    if (tokens) headers.Authorization = `Bearer ${tokens.access_token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && retry && tokens) {
      if (await refresh()) return api(path, { method, body, retry: false });
      toLogin();
      throw new ApiError(401, null);
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  // An endpoint another part of the project adds later: null while it is not there.
  async function optional(path) {
    try {
      return await api(path);
    } catch (error) {
      if (error.status === 404 && error.body && error.body.code === "not_found") return null;
      throw error;
    }
  }

  async function logout(reason) {
    try {
      if (auth.get()) await api("/auth/logout", { method: "POST", retry: false });
    } catch (error) { /* signed out either way */ }
    toLogin(reason);
  }

  // ---- the websocket -------------------------------------------------------------------
  function live(onMessage) {
    const status = $("#live-status");
    let socket = null;
    let after = 0;
    async function connect() {
      const tokens = auth.get();
      if (!tokens) return;
      try {
        after = (await api("/notifications?after=0&limit=1")).latest_seq;
      } catch (error) { /* keep the last */ }
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/ws/v1/?after=${after}`, ["bearer", auth.get().access_token]);
      socket.onopen = () => { status.className = "live on"; status.textContent = "● " + t("live"); };
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "notification") {
          after = Math.max(after, data.seq);
          socket.send(JSON.stringify({ type: "ack", seq: data.seq }));
        }
        onMessage(data);
      };
      socket.onclose = async (closing) => {
        status.className = "live off";
        status.textContent = "○ " + t("offline");
        if (closing.code === 4001 || closing.code === 4002 || closing.code === 4004) return toLogin();
        if (closing.code === 4003 && !(await refresh())) return toLogin();
        setTimeout(connect, closing.code === 4003 ? 0 : 2000);
      };
    }
    connect();
    setInterval(() => socket && socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
  }

  // ---- the map: SVG drawn from the grids' own polygons ----------------------------------
  const COLOURS = { red: "#d7263d", orange: "#f46036", yellow: "#f2c14e", blue: "#2e86ab", green: "#3bb273" };
  function ringsOf(polygon) {
    if (!polygon) return [];
    if (polygon.type === "Polygon") return [polygon.coordinates[0]];
    if (polygon.type === "MultiPolygon") return polygon.coordinates.map((p) => p[0]);
    return [];
  }
  function drawMap(grids, { colours = {}, points = [], focus = null, width = 600, height = 420 } = {}) {
    const rings = grids.flatMap((grid) => ringsOf(grid.polygon));
    const all = rings.flat().concat(points.map((p) => [p.lng, p.lat]));
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "map");
    svg.setAttribute("role", "img");
    if (!all.length) return svg;
    const lngs = all.map((c) => c[0]), lats = all.map((c) => c[1]);
    const [x0, x1, y0, y1] = [Math.min(...lngs), Math.max(...lngs), Math.min(...lats), Math.max(...lats)];
    const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180); // longitude degrees are shorter
    const scale = Math.min((width - 20) / ((x1 - x0) * kx || 1e-6), (height - 20) / (y1 - y0 || 1e-6));
    const px = (c) => [10 + (c[0] - x0) * kx * scale, height - 10 - (c[1] - y0) * scale];
    const ns = "http://www.w3.org/2000/svg";
    for (const grid of grids) {
      for (const ring of ringsOf(grid.polygon)) {
        const path = document.createElementNS(ns, "polygon");
        path.setAttribute("points", ring.map((c) => px(c).map((v) => v.toFixed(1)).join(",")).join(" "));
        path.setAttribute("class", "grid" + (focus === grid.id ? " focus" : ""));
        path.setAttribute("data-grid-id", grid.id);
        path.setAttribute("fill", COLOURS[colours[grid.id]] || "#e8ecef");
        const title = document.createElementNS(ns, "title");
        title.textContent = `${grid.name} ${colours[grid.id] || ""}`;
        path.append(title);
        svg.append(path);
      }
    }
    for (const point of points) {
      const [cx, cy] = px([point.lng, point.lat]);
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", cx.toFixed(1));
      dot.setAttribute("cy", cy.toFixed(1));
      dot.setAttribute("r", point.r || 4);
      dot.setAttribute("class", "dot" + (point.overdue ? " overdue" : ""));
      svg.append(dot);
    }
    return svg;
  }
  // A grid → colour map from whatever shape the warnings answer has (list or object).
  function colourMap(answer) {
    const out = {};
    if (!answer) return out;
    const list = Array.isArray(answer) ? answer : answer.grids || answer.items || answer.colours || [];
    if (Array.isArray(list)) {
      for (const row of list) {
        const id = (row.unit && row.unit.id) ?? row.grid_id ?? row.unit_id ?? row.id;
        const colour = row.colour || row.color;
        if (id !== undefined && colour) out[id] = colour;
      }
    } else {
      Object.assign(out, list);
    }
    return out;
  }

  // ---- a line chart in SVG ---------------------------------------------------------------
  function drawChart(series, { width = 360, height = 120 } = {}) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "chart");
    const values = series.map((p) => p.value);
    const max = Math.max(1, ...values);
    const step = series.length > 1 ? (width - 20) / (series.length - 1) : 0;
    const points = series.map((p, i) => `${(10 + i * step).toFixed(1)},${(height - 15 - (p.value / max) * (height - 30)).toFixed(1)}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", "line");
    svg.append(line);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 10);
    label.setAttribute("y", 12);
    label.textContent = `max ${max}`;
    svg.append(label);
    return svg;
  }

  // ---- the frame of every page ------------------------------------------------------------
  function frame(me) {
    const nav = h("nav", { class: "top" },
      h("strong", {}, t("app")),
      h("a", { href: "/console/" }, t("room")),
      h("a", { href: "/console/triage" }, t("triage")),
      h("a", { href: "/console/desk" }, t("desk")),
      h("a", { href: "/api/v1/docs" }, t("apiDocs")),
      h("span", { class: "spacer" }),
      h("span", { id: "live-status", class: "live off" }, "○"),
      h("span", { class: "who" }, me ? `${me.display_name} · ${me.roles.map((r) => r.role_label).join("、")}` : ""),
      h("button", { type: "button", class: "link", id: "lang", onclick: () => { localStorage.setItem("console.lang", lang === "en" ? "zh" : "en"); location.reload(); } }, t("language")),
      h("button", { type: "button", class: "link", id: "logout", onclick: () => logout() }, t("logout")),
    );
    const main = h("main", { id: "main" });
    document.body.replaceChildren(nav, main);
    return main;
  }

  function eventRow(event) {
    return h("li", { "data-event-id": event.id, class: event.overdue ? "overdue" : "" },
      h("a", { href: `/console/events/${event.id}` }, event.number),
      " ", event.category_name || event.category, " · ", event.grid_name || "",
      " · ", h("span", { class: "state" }, event.state_label || stateLabel(event.state)),
      event.overdue ? h("span", { class: "badge red" }, t("overdueMark")) : null,
    );
  }

  async function queueCount(queue) {
    const page = await api(`/events?queue=${queue}&page_size=100`);
    return { page, text: page.items.length + (page.has_more ? "+" : "") };
  }

  // ---- pages ------------------------------------------------------------------------------
  async function pageLogin() {
    const params = new URLSearchParams(location.search);
    const message = h("p", { class: "error", role: "alert", id: "login-error" },
      params.get("why") === "idle" ? t("idleExpired") : "");
    const form = h("form", { class: "login", id: "login-form" },
      h("h1", {}, t("app")),
      h("label", {}, t("username"), h("input", { name: "username", autocomplete: "username", required: true, autofocus: true })),
      h("label", {}, t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
      h("button", { type: "submit" }, t("signIn")),
      message,
      h("p", { class: "links" },
        h("button", { type: "button", class: "link", onclick: () => { localStorage.setItem("console.lang", lang === "en" ? "zh" : "en"); location.reload(); } }, t("language")),
        " · ", h("a", { href: "/api/v1/docs" }, t("apiDocs"))),
    );
    form.addEventListener("submit", async (submit) => {
      submit.preventDefault();
      const data = new FormData(form);
      try {
        const tokens = await api("/auth/login", {
          method: "POST",
          retry: false,
          body: { username: data.get("username"), password: data.get("password"), device_id: deviceId(), platform: "web", device_description: "console " + navigator.userAgent.slice(0, 150) },
        });
        auth.set(tokens);
        touch();
        const me = await api("/me");
        const secretaryOnly = me.roles.every((r) => r.role === "secretary");
        const next = params.get("next");
        location.assign(next && next.startsWith("/console/") && next !== "/console/login" ? next : secretaryOnly ? "/console/desk" : "/console/");
      } catch (error) {
        message.textContent = `${t("signInFailed")}: ${error.body ? error.body.message : error.message}`;
      }
    });
    document.body.replaceChildren(h("main", { class: "center" }, form));
  }

  async function pageRoom(me) {
    const main = frame(me);
    const queues = h("div", { class: "tiles" });
    const triageList = h("ul", { class: "events", id: "triage-list" });
    const overdueList = h("ul", { class: "events", id: "overdue-list" });
    const kpis = h("div", { id: "kpi-tiles", class: "tiles" }, t("loading"));
    const chart = h("div", { id: "trend" });
    const mapBox = h("div", { id: "map-box" }, t("loading"));
    const legend = h("p", { class: "legend", id: "map-legend" });
    const feed = h("ol", { id: "feed", class: "feed" }, h("li", { class: "empty" }, t("feedEmpty")));
    const lastHour = h("ul", { class: "events", id: "last-hour" });
    main.append(
      h("div", { class: "room" },
        panel("queues", t("queues"), queues, h("h3", {}, t("q_to_triage")), triageList, h("h3", {}, t("q_overdue")), overdueList),
        panel("map", t("map"), mapBox, legend),
        panel("live-feed", t("feed"), feed),
        panel("kpis", t("kpis"), kpis, chart),
        panel("recent", t("lastHour"), lastHour),
      ),
    );

    const points = [];
    async function loadQueues() {
      const names = ["to_triage", "overdue", "to_approve", "my_tasks"];
      const answers = await Promise.all(names.map(queueCount));
      queues.replaceChildren(...names.map((name, i) => h("div", { class: "tile", "data-queue": name },
        h("span", { class: "figure" }, answers[i].text), h("span", { class: "label" }, t("q_" + name)))));
      triageList.replaceChildren(...answers[0].page.items.slice(0, 8).map(eventRow));
      overdueList.replaceChildren(...answers[1].page.items.slice(0, 8).map(eventRow));
      if (!answers[0].page.items.length) triageList.append(h("li", { class: "empty" }, t("none")));
      if (!answers[1].page.items.length) overdueList.append(h("li", { class: "empty" }, t("none")));
      points.length = 0;
      for (const e of [...answers[0].page.items, ...answers[1].page.items]) {
        if (e.lat !== null && e.lng !== null) points.push({ lat: e.lat, lng: e.lng, overdue: e.overdue });
      }
    }
    async function loadLastHour() {
      const from = new Date(Date.now() - 3600 * 1000).toISOString();
      const page = await api(`/events?changed_from=${encodeURIComponent(from)}&page_size=20`);
      lastHour.replaceChildren(...page.items.map(eventRow));
      if (!page.items.length) lastHour.append(h("li", { class: "empty" }, t("none")));
    }
    // The viewer's own unit, as GET /stats/kpis takes it (docs/kpis.md): the widest they hold.
    function kpiUnit() {
      const scope = me.scope;
      if (scope.district_wide) return "unit=district";
      if (scope.street_ids.length) return `unit=street&unit_id=${scope.street_ids[0]}`;
      if (scope.community_ids.length) return `unit=community&unit_id=${scope.community_ids[0]}`;
      if (scope.grid_ids.length) return `unit=grid&unit_id=${scope.grid_ids[0]}`;
      if (scope.platform_ids.length) return `unit=platform&unit_id=${scope.platform_ids[0]}`;
      if (scope.department_ids.length) return `unit=department&unit_id=${scope.department_ids[0]}`;
      return null;
    }
    async function loadKpis() {
      const unit = kpiUnit();
      const answer = unit ? await optional(`/stats/kpis?${unit}&period=month&series=day`) : null;
      if (!answer) {
        kpis.replaceChildren(h("p", { class: "unavailable", id: "kpis-unavailable" }, t("kpisUnavailable")));
        return null;
      }
      const figures = answer.figures || {};
      kpis.replaceChildren(...KPI_TILES.filter((key) => key in figures).map((key) => h("div", { class: "tile", "data-kpi": key },
        h("span", { class: "figure" }, figures[key] === null ? "—" : KPI_RATES.has(key) ? `${(figures[key] * 100).toFixed(1)}%` : String(figures[key])),
        h("span", { class: "label" }, t("kpi_" + key)))));
      const series = Array.isArray(answer.series) ? answer.series : [];
      if (series.length) {
        chart.replaceChildren(h("h3", {}, `${t("trend")} · ${t("kpi_new")}`), drawChart(series.map((p) => ({ value: (p.figures && p.figures.new) || 0 }))));
      }
      return answer;
    }
    let grids = [];
    let colours = {};
    function paintMap() {
      mapBox.replaceChildren(drawMap(grids, { colours, points }));
    }
    const [, , kpiAnswer, map] = await Promise.all([
      loadQueues().catch((e) => showError(queues, e)),
      loadLastHour().catch((e) => showError(lastHour, e)),
      loadKpis().catch((e) => showError(kpis, e)),
      api("/console/map"),
    ]);
    grids = map.grids;
    colours = colourMap(kpiAnswer && (await optional("/stats/colours?unit=grid").catch(() => null)));
    legend.replaceChildren(Object.keys(colours).length
      ? h("span", {}, t("colours"), ...Object.entries(COLOURS).map(([name, hex]) => h("span", { class: "swatch", style: `background:${hex}` }, name)))
      : h("span", { id: "colours-unavailable" }, `${grids.length} ${t("grid")} · ${t("coloursUnavailable")}`));
    paintMap();
    performance.mark("console-ready");
    document.body.dataset.ready = "1";

    let pending = null;
    live((message) => {
      if (message.type !== "event.changed") return;
      const event = message.event;
      feed.querySelector(".empty")?.remove();
      feed.prepend(h("li", { "data-event-id": event.id, class: "fresh" },
        h("time", {}, fmtTime(new Date().toISOString()).slice(11)), " ",
        h("a", { href: `/console/events/${event.id}` }, event.number), " ",
        event.category_name, " → ", h("span", { class: "state" }, stateLabel(event.state)),
        event.overdue ? h("span", { class: "badge red" }, t("overdueMark")) : null));
      while (feed.children.length > 50) feed.lastChild.remove();
      clearTimeout(pending);
      pending = setTimeout(() => { loadQueues().then(paintMap).catch(() => {}); loadLastHour().catch(() => {}); }, 300);
    });
  }

  // The rules the API applies to a step's body, from the API's own OpenAPI document.
  let openapi = null;
  async function stepSchema(step) {
    if (!openapi) {
      const response = await fetch(`${API}/openapi.json`);
      openapi = await response.json();
    }
    const operation = openapi.paths[`${API}/events/{event_id}/${step}`]?.post;
    if (!operation) return null;
    let schema = operation.requestBody?.content?.["application/json"]?.schema || {};
    if (schema.$ref) schema = openapi.components.schemas[schema.$ref.split("/").pop()];
    const [zh, ...en] = (operation.summary || step).split(" ");
    return { schema, label: lang === "en" && en.length ? en.join(" ") : zh };
  }
  function inputFor(name, property, required, targets) {
    const label = pick(FIELDS[name]) || property.title || name;
    const variants = property.anyOf ? property.anyOf.filter((v) => v.type !== "null") : [property];
    const type = variants[0] || {};
    let input;
    if (targets && targets[name] && targets[name].length) {
      input = h("select", { name },
        h("option", { value: "" }, "—"),
        ...targets[name].map((target) => h("option", { value: target.id, selected: target.suggested || null },
          `${target.name}${target.load !== undefined ? ` (${target.load})` : ""}${target.suggested ? ` · ${t("suggested")}` : ""}`)));
    } else if (type.enum) {
      input = h("select", { name, required }, h("option", { value: "" }, "—"), ...type.enum.map((v) => h("option", { value: v }, v)));
    } else if (type.type === "integer") {
      input = h("input", { name, type: "number", min: type.minimum ?? 1, required, inputmode: "numeric" });
    } else if (type.format === "date-time") {
      input = h("input", { name, type: "datetime-local", required });
    } else if (type.type === "boolean") {
      input = h("input", { name, type: "checkbox" });
    } else if (type.type === "string") {
      const long = ["note", "reason", "comment", "result_note", "description"].includes(name);
      input = h(long ? "textarea" : "input", { name, required, minlength: type.minLength || null, maxlength: type.maxLength || null, rows: long ? 2 : null });
    } else {
      return null;
    }
    input.dataset.kind = type.format === "date-time" ? "time" : type.type || "string";
    return h("label", { class: required ? "required" : "" }, label, input);
  }
  function readForm(form) {
    const body = {};
    for (const input of form.querySelectorAll("input, textarea, select")) {
      if (!input.name) continue;
      const value = input.type === "checkbox" ? input.checked : input.value;
      if (value === "" || value === null) continue;
      const kind = input.dataset.kind;
      let out = value;
      if (kind === "integer") out = Number(value);
      else if (kind === "time") out = new Date(value).toISOString();
      if (input.name.startsWith("fields.")) (body.fields = body.fields || {})[input.name.slice(7)] = out;
      else body[input.name] = out;
    }
    return body;
  }
  async function stepForm(event, step, targets, onDone) {
    const found = await stepSchema(step);
    if (!found) return null;
    const { schema, label } = found;
    const required = new Set(schema.required || []);
    const fields = [];
    for (const [name, property] of Object.entries(schema.properties || {})) {
      if (name === "device_time" || property.type === "array") continue;
      if (name === "fields") {
        for (const sub of ["description", "address_text"]) fields.push(h("label", {}, pick(FIELDS[sub]), h("input", { name: "fields." + sub })));
        continue;
      }
      const field = inputFor(name, property, required.has(name), targets);
      if (field) fields.push(field);
    }
    const message = h("p", { class: "message", role: "status" });
    const form = h("form", { class: "step", "data-step": step },
      h("h3", {}, label), ...fields, h("button", { type: "submit" }, label), message);
    form.addEventListener("submit", async (submit) => {
      submit.preventDefault();
      try {
        await api(`/events/${event.id}/${step}`, { method: "POST", body: readForm(form) });
        message.textContent = t("done");
        onDone();
      } catch (error) {
        showError(message, error);
      }
    });
    return form;
  }
  // The duty list's directory (another part of the project): options per body field.
  function targetOptions(answer) {
    if (!answer) return null;
    const out = { platform_id: [], unit_id: [], department_id: [], grid_worker_id: [] };
    const rows = Array.isArray(answer) ? answer : answer.items || answer.targets ||
      [...(answer.platforms || []).map((r) => ({ ...r, kind: "platform" })),
        ...(answer.departments || []).map((r) => ({ ...r, kind: "department" })),
        ...(answer.grid_workers || answer.people || []).map((r) => ({ ...r, kind: "grid_worker" }))];
    for (const row of rows) {
      const key = row.field || `${row.kind === "user" || row.kind === "person" ? "grid_worker" : row.kind}_id`;
      if (out[key]) out[key].push({ id: row.id, name: row.name || row.display_name || row.id, load: row.load ?? row.open_events, suggested: row.suggested || row.duty });
    }
    return out;
  }

  async function pageEvent(me) {
    const main = frame(me);
    const id = document.body.dataset.eventId;
    const head = h("div", { id: "event-head" }, t("loading"));
    const steps = h("div", { id: "steps" });
    const photos = h("div", { id: "photos" });
    const history = h("div", { id: "history" });
    const where = h("div", { id: "event-map" });
    main.append(h("div", { class: "event-page" },
      panel("summary", "", head),
      panel("actions", t("steps"), steps),
      panel("event-photos", t("photos"), photos),
      panel("event-location", t("location"), where),
      panel("event-history", t("history"), history)));

    async function load() {
      let event;
      try {
        event = await api(`/events/${id}`);
      } catch (error) {
        showError(head, error);
        return;
      }
      document.title = `${event.number} · ${t("app")}`;
      head.replaceChildren(
        h("h1", {}, event.number, " ", h("span", { class: "state", id: "event-state" }, event.state_label)),
        h("dl", { class: "facts" },
          h("dt", {}, t("category")), h("dd", {}, `${event.category} ${event.category_name}`),
          h("dt", {}, t("grid")), h("dd", {}, event.grid_name),
          h("dt", {}, t("level")), h("dd", {}, event.level_label),
          h("dt", {}, t("reportedAt")), h("dd", {}, fmtTime(event.reported_at)),
          h("dt", {}, t("deadline")), h("dd", {}, fmtTime(event.deadline_at), event.overdue ? h("span", { class: "badge red" }, t("overdueMark")) : null),
          h("dt", {}, t("address")), h("dd", {}, event.address_text),
          h("dt", {}, t("description")), h("dd", {}, event.description),
          event.result_note ? [h("dt", {}, t("result")), h("dd", {}, event.result_note)] : null));

      const [targets, photoAnswer, actions, chain] = await Promise.all([
        event.allowed_steps.includes("dispatch") ? optional(`/events/${id}/dispatch-targets`).catch(() => null) : null,
        api(`/events/${id}/photos`).catch(() => null),
        api(`/events/${id}/history`),
        api(`/console/events/${id}/chain`),
      ]);
      const forms = [];
      for (const step of event.allowed_steps) {
        const form = await stepForm(event, step, targetOptions(targets), load);
        if (form) forms.push(form);
      }
      steps.replaceChildren(...(forms.length ? forms : [h("p", {}, t("noSteps"))]));
      if (event.allowed_steps.includes("dispatch") && !targets) steps.prepend(h("p", { class: "unavailable", id: "targets-unavailable" }, t("targetsUnavailable")));

      photos.replaceChildren(renderPhotos(photoAnswer));
      history.replaceChildren(renderHistory(actions, chain));
      const grid = await api(`/territory/grids/${event.grid_id}`).catch(() => null);
      where.replaceChildren(grid ? drawMap([grid], { focus: grid.id, points: event.lat !== null ? [{ lat: event.lat, lng: event.lng, r: 6 }] : [], width: 300, height: 220 }) : "");
      document.body.dataset.ready = "1";
    }
    await load();
    // Another user's step on this event (a dispatcher's street feed, or a notification
    // about it) reloads the page's facts, history, photos and forms.
    let pending = null;
    live((message) => {
      const changed = message.type === "event.changed" ? message.event.id : message.type === "notification" ? message.event_id : null;
      if (changed !== id || steps.contains(document.activeElement)) return;
      clearTimeout(pending);
      pending = setTimeout(() => load().catch(() => {}), 300);
    });
  }

  function photoCard(photo, phase) {
    if (!photo) return h("figure", { class: "photo none" }, h("figcaption", {}, `${t(phase)} · ${t("noPhoto")}`));
    const meta = [
      photo.captured_at ? fmtTime(photo.captured_at) : null,
      photo.gps_lat !== null && photo.gps_lat !== undefined ? `GPS ${photo.gps_lat.toFixed(5)}, ${photo.gps_lng.toFixed(5)}${photo.gps_accuracy_m ? ` ±${photo.gps_accuracy_m} m` : ""}` : null,
      [photo.camera_make, photo.camera_model].filter(Boolean).join(" ") || null,
      `${photo.width}×${photo.height} ${photo.format}`,
      `SHA-256 ${photo.sha256.slice(0, 12)}…`,
    ].filter(Boolean);
    const flags = Object.entries(photo.flags || {}).filter(([, v]) => v).map(([k]) => k);
    return h("figure", { class: "photo", "data-phase": phase },
      h("img", { src: photo.urls.display || photo.urls.thumb, alt: t(phase), loading: "lazy" }),
      h("figcaption", {}, h("strong", {}, t(phase)), h("br"), meta.join(" · "),
        ...(Array.isArray(photo.flags) ? photo.flags : flags).map((flag) => h("span", { class: "badge flag" }, flag))));
  }
  function renderPhotos(answer) {
    if (!answer) return h("p", {}, t("noPhoto"));
    const pairs = answer.pairs || [];
    const evidence = answer.evidence;
    return h("div", {},
      evidence ? h("p", { class: evidence.complete ? "ok" : "warn", id: "evidence" }, evidence.complete ? t("evidenceComplete") : t("evidenceMissing")) : null,
      ...(pairs.length ? pairs : [{ before: null, after: null }]).map((pair) => h("div", { class: "pair" }, photoCard(pair.before, "before"), photoCard(pair.after, "after"))));
  }
  function renderHistory(actions, chain) {
    // The server recomputes every hash (console/events/{id}/chain); the page also checks
    // that each row it was given links to the one before it.
    let linked = true;
    actions.forEach((row, i) => { if (row.prev_hash !== (i ? actions[i - 1].hash : "")) linked = false; });
    const ok = chain.verified && linked;
    return h("div", {},
      h("p", { class: ok ? "chain ok" : "chain bad", id: "chain" },
        ok ? `✓ ${t("chainOk")} (${chain.length} ${t("rows")})` : `✗ ${t("chainBad")}: ${chain.problems.join("; ")}`),
      h("table", { class: "history" },
        h("tbody", {}, ...actions.map((row) => h("tr", { class: row.public ? "public" : "internal", "data-public": row.public ? "1" : "0" },
          h("td", {}, `#${row.seq}`, h("br"), h("small", { class: "visibility" }, t(row.public ? "publicRow" : "internalRow"))), h("td", {}, fmtTime(row.server_at)),
          h("td", {}, row.actor_name || "—", h("br"), h("small", {}, row.actor_role)),
          h("td", {}, row.action), h("td", {}, `${stateLabel(row.from_state)} → ${stateLabel(row.to_state)}`),
          h("td", {}, row.note),
          h("td", { class: "hash", title: row.hash }, row.hash.slice(0, 10)))))));
  }

  async function pageDesk(me) {
    const main = frame(me);
    const list = h("ol", { id: "approvals", class: "events" });
    const current = h("div", { id: "current" });
    main.append(h("div", { class: "desk" },
      panel("queue", t("q_to_approve"), h("p", { class: "hint" }, t("deskKeys")), list),
      panel("review", t("desk"), current)));
    let items = [];
    let index = 0;
    async function loadList() {
      const page = await api("/events?queue=to_approve&page_size=50");
      items = page.items;
      index = Math.min(index, Math.max(0, items.length - 1));
      list.replaceChildren(...items.map((e, i) => {
        const row = eventRow(e);
        row.classList.toggle("selected", i === index);
        row.addEventListener("click", (click) => { click.preventDefault(); index = i; show(); });
        return row;
      }));
      if (!items.length) list.append(h("li", { class: "empty" }, t("deskEmpty")));
    }
    async function show() {
      [...list.children].forEach((row, i) => row.classList.toggle("selected", i === index));
      const event = items[index];
      if (!event) { current.replaceChildren(h("p", {}, t("deskEmpty"))); document.body.dataset.ready = "1"; return; }
      current.replaceChildren(t("loading"));
      const [detail, photoAnswer] = await Promise.all([api(`/events/${event.id}`), api(`/events/${event.id}/photos`).catch(() => null)]);
      const reason = h("textarea", { id: "rework-reason", rows: 2, placeholder: t("reasonRequired") });
      const message = h("p", { class: "message", role: "status" });
      async function act(step, body) {
        try {
          await api(`/events/${event.id}/${step}`, { method: "POST", body });
          items.splice(index, 1);
          await loadList();
          await show();
        } catch (error) {
          showError(message, error);
        }
      }
      const approve = h("button", { type: "button", id: "approve", accesskey: "a", onclick: () => act("approve", {}) }, `${t("approve")} (A)`);
      const rework = h("button", { type: "button", id: "rework", class: "secondary", onclick: () => {
        if (!reason.value.trim()) { message.textContent = t("reasonRequired"); reason.focus(); return; }
        act("rework", { reason: reason.value.trim() });
      } }, `${t("rework")} (R)`);
      reason.addEventListener("keydown", (key) => { if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) rework.click(); });
      current.replaceChildren(
        h("h3", {}, h("a", { href: `/console/events/${detail.id}` }, detail.number), " ", detail.category_name, " · ", detail.grid_name),
        h("p", {}, detail.description),
        detail.result_note ? h("p", { class: "result" }, `${t("result")}: ${detail.result_note}`) : null,
        renderPhotos(photoAnswer),
        detail.allowed_steps.includes("approve") ? h("div", { class: "decide" }, approve, reason, rework, message) : h("p", {}, t("noSteps")));
      document.body.dataset.ready = "1";
    }
    document.addEventListener("keydown", (key) => {
      if (["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName)) {
        if (key.key === "Escape") document.activeElement.blur();
        return;
      }
      if (key.key === "j" && index < items.length - 1) { index++; show(); }
      else if (key.key === "k" && index > 0) { index--; show(); }
      else if (key.key === "a") $("#approve")?.click();
      else if (key.key === "r") { key.preventDefault(); $("#rework-reason")?.focus(); }
    });
    await loadList();
    await show();
    // A secretary is not in a street's live feed: the desk refreshes on any of their
    // notifications and, as a fallback, every 30 seconds.
    const refreshList = () => loadList().then(() => { if (!items[index]) return show(); [...list.children].forEach((row, i) => row.classList.toggle("selected", i === index)); });
    live((message) => { if (message.type === "notification" || message.type === "event.changed") refreshList(); });
    setInterval(refreshList, 30000);
  }

  // Likely duplicates are the server's (GET /tips/triage: same category, within the
  // category's radius, within its time window; docs/residents.md): one rule, not a second here.
  function duplicateGroups(answer) {
    const byId = new Map(answer.items.map((e) => [e.id, e]));
    const grouped = new Set();
    const groups = [];
    for (const group of answer.duplicate_groups || []) {
      const events = group.event_ids.map((id) => byId.get(id)).filter(Boolean);
      if (events.length > 1) { groups.push(events); events.forEach((e) => grouped.add(e.id)); }
    }
    for (const e of answer.items) if (!grouped.has(e.id)) groups.push([e]);
    return groups;
  }

  async function pageTriage(me) {
    const main = frame(me);
    const box = h("div", { id: "triage" }, t("loading"));
    main.append(panel("triage-panel", t("q_to_triage"), box));
    async function load() {
      const groups = duplicateGroups(await api("/tips/triage?limit=100"));
      const dupes = groups.filter((g) => g.length > 1);
      const singles = groups.filter((g) => g.length === 1).map((g) => g[0]);
      const accept = (event, message) => h("button", { type: "button", class: "small", "data-accept": event.id, onclick: async () => {
        try { await api(`/events/${event.id}/accept`, { method: "POST", body: {} }); await load(); } catch (error) { showError(message, error); }
      } }, t("accept"));
      const row = (event, groupName) => {
        const message = h("span", { class: "message" });
        return h("li", { "data-event-id": event.id },
          groupName ? h("input", { type: "radio", name: groupName, value: event.id, "aria-label": event.number }) : null,
          h("a", { href: `/console/events/${event.id}` }, event.number), " ",
          event.category_name, " · ", event.grid_name, " · ", fmtTime(event.reported_at), " · ",
          h("span", { class: "desc" }, (event.description || "").slice(0, 60)), " ",
          event.me_too_count ? h("span", { class: "me-too", "data-me-too": event.me_too_count }, `${t("meToo")} ${event.me_too_count} `) : null,
          event.state === "reported" ? accept(event, message) : null,
          h("a", { class: "button small", href: `/console/events/${event.id}` }, t("open")), message);
      };
      const sections = dupes.map((group, n) => {
        const name = `dup-${n}`;
        const items = group.sort((a, b) => new Date(a.reported_at) - new Date(b.reported_at));
        const message = h("p", { class: "message" });
        const list = h("ul", { class: "events" }, ...items.map((e) => row(e, name)));
        list.querySelector("input").checked = true;
        const merge = h("button", { type: "button", class: "merge", onclick: async () => {
          const into = list.querySelector("input:checked").value;
          try {
            for (const e of items) if (e.id !== into) await api(`/events/${e.id}/merge`, { method: "POST", body: { into } });
            await load();
          } catch (error) { showError(message, error); }
        } }, t("mergeInto"));
        return h("div", { class: "dup-group", "data-size": group.length },
          h("h3", {}, `${t("duplicates")} · ${group.length}`), list, merge, message);
      });
      box.replaceChildren(...sections,
        h("h3", {}, t("single")),
        singles.length ? h("ul", { class: "events", id: "singles" }, ...singles.map((e) => row(e, null))) : h("p", {}, t("triageEmpty")));
      document.body.dataset.ready = "1";
    }
    await load();
    let pending = null;
    live((message) => {
      if (message.type !== "event.changed") return;
      clearTimeout(pending);
      pending = setTimeout(() => load().catch(() => {}), 300);
    });
  }

  // ---- start ------------------------------------------------------------------------------
  const PAGES = { room: pageRoom, event: pageEvent, desk: pageDesk, triage: pageTriage };
  async function start() {
    const name = document.body.dataset.page;
    if (name === "login") return pageLogin();
    if (!auth.get()) return toLogin();
    if (!checkIdle()) return;
    touch();
    for (const kind of ["keydown", "pointerdown"]) document.addEventListener(kind, touch, { passive: true });
    setInterval(checkIdle, 30000);
    let me;
    try {
      me = await api("/me");
    } catch (error) {
      return toLogin();
    }
    await PAGES[name](me);
  }
  window.consoleApp = { duplicateGroups, colourMap };
  start().catch((error) => {
    const main = $("#main") || document.body;
    showError(main, error);
  });
})();
