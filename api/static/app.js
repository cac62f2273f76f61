// wenda 问答 — the web page. Plain JavaScript, no build step, no outside requests.
//
// Views follow the URL, so results can be shared and Back works:
//   /                              intro: example questions and the documents
//   /?q=问题                       the answer card and the ranked passages (POST /api/ask)
//   /?q=…&doc=SOURCE&start=S&end=E a document with the cited characters [S, E) highlighted
// Offsets are Python code-point offsets: the text is sliced with Array.from so characters
// outside the BMP count as one, as they do on the server.
// Only the API's `highlight` field (HTML-escaped, with <mark>) is inserted as HTML; everything
// else goes in as text.
"use strict";

(() => {
  const KEY_STORE = "wenda.apiKey";
  const EXAMPLES = [
    "徐汇区有多少家人工智能企业？",
    "普陀区累计开通了多少个5G室外基站？",
    "第四届上海数字创新大会在哪里举行？",
    "上海如何推进城市数字化转型？",
  ];
  const ERROR_LEADS = {
    bad_input: "输入有误", too_large: "内容太长", validation_error: "请求格式不对", not_found: "没有找到",
    not_ready: "服务正在加载索引，请稍候再试", index_missing: "服务器上还没有建立索引", timeout: "请求超时",
    unauthorized: "需要有效的 API 密钥", network: "无法连接服务器", internal_error: "服务器出错了",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("search-form"), q: $("q"), submit: $("submit"), status: $("status"), main: $("main"),
    intro: $("intro"), examples: $("examples"), docList: $("doc-list"),
    results: $("results"), answer: $("answer"), badge: $("answer-badge"), answerText: $("answer-text"),
    note: $("answer-note"), citationsTitle: $("citations-title"), citations: $("citations"),
    answerMeta: $("answer-meta"), passages: $("passages"),
    docView: $("doc-view"), back: $("back"), docTitle: $("doc-title"), docMeta: $("doc-meta"),
    docCited: $("doc-cited"), docText: $("doc-text"),
    keyForm: $("key-form"), keyInput: $("key-input"), keyMessage: $("key-message"),
    pageView: $("page-view"), pageFrame: $("page-frame"), pageImage: $("page-image"), pageCaption: $("page-caption"),
    openFile: $("open-file"),
    dropZone: $("drop-zone"), fileInput: $("file-input"), indexBox: $("index-box"), indexProgress: $("index-progress"),
    indexState: $("index-state"), uploadErrors: $("upload-errors"),
  };

  const answers = new Map();     // question -> ask JSON, so Back does not ask again
  const docs = new Map();        // source -> document JSON
  let generation = 0;            // the latest navigation; older responses are dropped
  let controller = null;

  // -- talking to the API ---------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function send(path, options = {}, accept = "application/json") {
    const headers = new Headers(options.headers || {});
    headers.set("Accept", accept);
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.set("Authorization", "Bearer " + key);
    try {
      return await fetch(path, { ...options, headers });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "请检查网络或服务器是否在运行，然后重试。");
    }
  }

  // A file from the API (page images, originals) as an object URL: <img src> cannot send the key.
  async function blobUrl(path, options = {}) {
    const response = await send(path, options, "*/*");
    if (!response.ok) {
      let e = null;
      try { e = (await response.json()).error; } catch { e = null; }
      throw new ApiError(response.status, e ? e.code : "http_" + response.status, e ? e.message : response.statusText);
    }
    return URL.createObjectURL(await response.blob());
  }

  async function api(path, options = {}) {
    const response = await send(path, options);
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    if (!response.ok) {
      const e = body && body.error ? body.error : { code: "http_" + response.status, message: response.statusText };
      throw new ApiError(response.status, e.code, e.message || "请求失败");
    }
    return body;
  }

  const pathOf = (source) => source.split("/").map(encodeURIComponent).join("/");

  function urlFor(state) {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.doc) {
      p.set("doc", state.doc);
      if (Number.isInteger(state.start) && Number.isInteger(state.end)) {
        p.set("start", String(state.start));
        p.set("end", String(state.end));
      }
    }
    const s = p.toString();
    return "/" + (s ? "?" + s : "");
  }

  function navigate(state) {
    const url = urlFor(state);
    if (url !== location.pathname + location.search) history.pushState({ wenda: true }, "", url);
    route();
  }

  // -- small DOM helpers ----------------------------------------------------------------------

  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);   // append() inserts text, not HTML
    return node;
  }

  const whereOf = (hit) => [hit.source, ...(hit.section || []), `第${hit.paragraph}段`].join(" › ");

  function setStatus(kind, text, detail) {
    el.status.className = "status" + (kind ? " " + kind : "");
    el.status.replaceChildren();
    if (kind === "error") el.status.setAttribute("role", "alert");
    else el.status.setAttribute("role", "status");
    if (text) el.status.append(text);
    if (detail) el.status.append(h("span", { class: "detail" }, detail));
  }

  function showError(err) {
    if (err.name === "AbortError") return;
    const lead = ERROR_LEADS[err.code] || "出错了";
    setStatus("error", `${lead}${err.status ? `（${err.status}）` : ""}`, err.message);
  }

  function setBusy(busy) {
    el.submit.disabled = busy;
    el.main.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function show(view) {
    for (const v of [el.intro, el.results, el.docView]) v.hidden = v !== view;
  }

  // Links that open a view in this page: plain clicks stay here, modified clicks open a tab,
  // and Space works as well as Enter.
  function navLink(state, attrs, ...children) {
    const a = h("a", { href: urlFor(state), ...attrs }, ...children);
    a.addEventListener("click", (ev) => {
      if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      navigate(state);
    });
    a.addEventListener("keydown", (ev) => {
      if (ev.key === " ") { ev.preventDefault(); navigate(state); }
    });
    return a;
  }

  // -- views ----------------------------------------------------------------------------------

  async function route() {
    const p = new URLSearchParams(location.search);
    const q = (p.get("q") || "").trim();
    const doc = p.get("doc");
    el.q.value = q;
    const gen = ++generation;
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      if (doc) await showDocument(gen, doc, toInt(p.get("start")), toInt(p.get("end")), q);
      else if (q) await showResults(gen, q);
      else await showIntro(gen);
    } catch (err) {
      if (gen !== generation) return;
      if (err.status === 401) askForKey(err);
      else showError(err);
      if (err.code === "not_ready") setTimeout(() => { if (gen === generation) route(); }, 2000);  // still loading
    } finally {
      if (gen === generation) setBusy(false);
    }
  }

  // Runs of blank lines are shown as one; the cited span itself is always shown exactly.
  const tidy = (text) => text.replace(/\n[ \t\u3000]*(?:\n[ \t\u3000]*){2,}/g, "\n\n");

  const toInt = (s) => (s !== null && /^\d+$/.test(s) ? Number(s) : null);

  async function showIntro(gen) {
    document.title = "问答 wenda";
    show(el.intro);
    setStatus(null);
    if (!el.examples.childElementCount) {
      for (const ex of EXAMPLES) {
        el.examples.append(h("li", {}, h("button", { type: "button", onclick: () => navigate({ q: ex }) }, ex)));
      }
    }
    if (el.docList.childElementCount) return;
    const list = await api("/api/documents", { signal: controller.signal });
    if (gen !== generation) return;
    el.docList.replaceChildren(...list.map((d) => h("li", {},
      navLink({ doc: d.source }, {}, d.title || d.source),
      h("span", { class: "meta" }, `${d.passages} 段 · ${d.chars.toLocaleString("zh-CN")} 字`))));
  }

  async function showResults(gen, q) {
    document.title = `${q} · 问答 wenda`;
    let data = answers.get(q);
    if (!data) {
      setBusy(true);
      setStatus("loading", "正在检索并组织答案…");
      data = await api("/api/ask", {
        method: "POST", signal: controller.signal,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: q, k: 5 }),
      });
      if (gen !== generation) return;
      answers.set(q, data);
    }
    renderAnswer(q, data);
    renderPassages(q, data.passages);
    show(el.results);
    announce(data.found ? `找到答案，${data.citations.length} 处出处，${data.passages.length} 个相关段落`
                        : `语料中没有找到答案，列出 ${data.passages.length} 个最接近的段落`);
  }

  function announce(text) {
    // a polite message for screen readers without showing a status box
    el.status.className = "status visually-hidden";
    el.status.textContent = text;
  }

  // The answer sentence with its short answer (answer_span) in bold, when it has one.
  function answerPieces(data) {
    const short = data.found && data.answer_span ? data.answer_span.text.replace(/\n/g, "") : "";
    const at = short ? data.answer.indexOf(short) : -1;
    if (at < 0) return [data.answer];
    return [data.answer.slice(0, at), h("strong", { class: "answer-span" }, short),
            data.answer.slice(at + short.length)];
  }

  function renderAnswer(q, data) {
    el.answer.classList.toggle("found", data.found);
    el.answer.classList.toggle("not-found", !data.found);
    el.badge.textContent = data.found ? "找到答案" : "没有找到答案";
    el.answerText.replaceChildren(...answerPieces(data));
    // a homophone typo fixed ("普佗区" -> "普陀区"): say what was answered
    const notes = [data.corrected ? `已按「${data.corrected}」回答（纠正了同音错字）。` : "", data.note || ""];
    el.note.textContent = notes.filter(Boolean).join(" ");
    el.note.hidden = !el.note.textContent;
    const cites = data.citations || [];
    el.citationsTitle.hidden = cites.length === 0;
    el.citations.replaceChildren(...cites.map((c, i) => h("li", {},
      navLink({ q, doc: c.source, start: c.start, end: c.end },
              { class: "cite-link", "aria-label": `出处 ${i + 1}：${c.title}，${whereOf(c)}，在原文中查看` },
              h("span", { class: "num" }, `[${i + 1}]`),
              h("span", {}, h("span", { class: "cite-title" }, `《${c.title}》`), " ", h("span", { class: "where" }, whereOf(c)))),
      h("blockquote", { class: "quote" }, c.text.trim()))));
    const secs = (data.took_ms / 1000).toFixed(data.took_ms < 10000 ? 2 : 1);
    el.answerMeta.textContent = data.found
      ? `依据 ${cites.length} 处原文 · 点击出处可在原文中查看 · 用时 ${secs} 秒`
      : `语料中没有能回答这个问题的原文，下面是最接近的段落，仅供参考 · 用时 ${secs} 秒`;
  }

  function renderPassages(q, hits) {
    if (!hits.length) {
      el.passages.replaceChildren(h("li", { class: "empty" }, "没有相关段落。"));
      return;
    }
    el.passages.replaceChildren(...hits.map((hit) => {
      const snippet = h("p", { class: "snippet clamped", id: `snippet-${hit.rank}` });
      snippet.innerHTML = hit.highlight;         // HTML-escaped by the server, only <mark> inside
      const toggle = h("button", { type: "button", class: "link-button", "aria-expanded": "false",
                                   "aria-controls": snippet.id }, "展开全文");
      toggle.addEventListener("click", () => {
        const open = snippet.classList.toggle("clamped") === false;
        toggle.textContent = open ? "收起" : "展开全文";
        toggle.setAttribute("aria-expanded", String(open));
      });
      const item = h("li", { class: "card hit" },
        h("div", { class: "hit-head" },
          h("span", { class: "rank", "aria-label": `第 ${hit.rank} 名` }, String(hit.rank)),
          navLink({ q, doc: hit.source, start: hit.start, end: hit.end }, { class: "hit-title" }, hit.title || hit.source)),
        h("p", { class: "where" }, whereOf(hit)),
        snippet,
        h("div", { class: "hit-actions" },
          toggle,
          navLink({ q, doc: hit.source, start: hit.start, end: hit.end }, {}, "在原文中查看")));
      requestAnimationFrame(() => { if (snippet.scrollHeight <= snippet.clientHeight + 2) toggle.remove(); });
      return item;
    }));
  }

  async function showDocument(gen, source, start, end, q) {
    el.back.textContent = q ? "← 返回搜索结果" : "← 返回首页";
    let data = docs.get(source);
    if (!data) {
      setBusy(true);
      setStatus("loading", "正在打开原文…");
      data = await api(`/api/documents/${pathOf(source)}`, { signal: controller.signal });
      if (gen !== generation) return;
      docs.set(source, data);
    }
    document.title = `${data.title} · 问答 wenda`;
    const chars = Array.from(data.text);             // code points, like Python's str
    const cited = Number.isInteger(start) && Number.isInteger(end) && start < end && end <= chars.length;
    el.docTitle.textContent = data.title || data.source;
    $("doc-bar-title").textContent = data.title || data.source;
    el.docMeta.textContent = `${data.source} · ${data.passages.length} 段 · ${chars.length.toLocaleString("zh-CN")} 字`;

    let lead = 0;                                      // leading blank lines are not worth showing
    while (lead < chars.length && /\s/.test(chars[lead]) && (!cited || lead < start)) lead++;
    const mark = cited ? h("mark", { class: "cited", id: "cited", tabindex: "-1" }, chars.slice(start, end).join("")) : null;
    el.docText.replaceChildren(
      tidy(chars.slice(lead, cited ? start : chars.length).join("")),
      ...(cited ? [mark, tidy(chars.slice(end).join(""))] : []));

    const where = cited ? data.passages.find((p) => p.start <= start && start < p.end) : null;
    el.docCited.hidden = !cited;
    el.docCited.textContent = cited
      ? `高亮处为引用的原文${where ? `：${[...where.section, `第${where.paragraph}段`].join(" › ")}` : ""}（字符 ${start}–${end}）`
      : "";
    showPage(gen, data, cited ? start : null, cited ? end : null);
    show(el.docView);
    setStatus(null);
    if (mark) {
      mark.scrollIntoView({ block: "center" });
      mark.focus({ preventScroll: true });
    } else {
      window.scrollTo(0, 0);
      el.back.focus();
    }
  }

  // The PDF page a citation starts on, beside the text, with the cited lines marked on it.
  let pageUrl = null;
  async function showPage(gen, data, start, end) {
    const pages = data.pages || [];
    el.pageFrame.querySelectorAll(".page-mark").forEach((m) => m.remove());
    if (pageUrl) { URL.revokeObjectURL(pageUrl); pageUrl = null; }
    el.pageImage.removeAttribute("src");
    if (!pages.length) { el.pageView.hidden = true; return; }
    const page = (start !== null && pages.find((p) => p.start <= start && start < p.end)) || pages[0];
    const base = `/api/documents/${pathOf(data.source)}`;
    el.pageView.hidden = false;
    el.pageView.dataset.page = String(page.page);
    el.pageCaption.textContent = `第 ${page.page} 页 / 共 ${pages.length} 页` + (start !== null ? " · 黄色为引用的原文" : "");
    el.pageImage.alt = `${data.title || data.source} 第 ${page.page} 页`;
    el.openFile.onclick = async () => {
      try { window.open(await blobUrl(`${base}/file`), "_blank", "noopener"); } catch (err) { showError(err); }
    };
    try {
      const [url, marks] = await Promise.all([
        blobUrl(`${base}/pages/${page.page}.png`, { signal: controller.signal }),
        start !== null ? api(`${base}/pages/${page.page}/boxes?start=${start}&end=${end}`, { signal: controller.signal })
                       : Promise.resolve({ boxes: [] }),
      ]);
      if (gen !== generation) { URL.revokeObjectURL(url); return; }
      pageUrl = url;
      el.pageImage.src = url;
      for (const [left, top, right, bottom] of marks.boxes) {
        const m = h("div", { class: "page-mark" });
        m.style.left = `${left * 100}%`;
        m.style.top = `${top * 100}%`;
        m.style.width = `${(right - left) * 100}%`;
        m.style.height = `${(bottom - top) * 100}%`;
        el.pageFrame.append(m);
      }
    } catch (err) {
      if (err.name === "AbortError" || gen !== generation) return;
      el.pageCaption.textContent = `第 ${page.page} 页的图像无法显示：${err.message}`;
    }
  }

  // -- adding documents -----------------------------------------------------------------------

  let polling = false;

  async function upload(files) {
    el.uploadErrors.replaceChildren();
    const names = [];
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        await api("/api/documents", { method: "POST", body: form });
        names.push(file.name);
      } catch (err) {
        if (err.status === 401) { askForKey(err); return; }
        el.uploadErrors.append(h("li", {}, `${file.name}：${err.message}`));
      }
    }
    if (names.length) await pollIndex(names);
  }

  async function pollIndex(names) {
    if (polling) return;
    polling = true;
    el.indexBox.hidden = false;
    const stages = { starting: "准备中", reading: "读取文件", chunking: "切分段落", tokenising: "分词",
                     embedding: "计算向量" };
    try {
      for (;;) {
        const s = await api("/api/index");
        el.indexProgress.value = s.fraction;
        if (s.state === "building") {
          el.indexState.textContent = `正在更新索引：${stages[s.stage] || "写入索引"}` +
            (s.total ? ` ${s.done}/${s.total}` : "");
        } else if (s.state === "loading") {
          el.indexState.textContent = "索引已建好，正在切换到新索引…";
        } else {
          el.indexProgress.value = 1;
          if (s.last_error) {
            el.indexState.textContent = "索引更新失败";
            el.uploadErrors.append(h("li", {}, s.last_error));
          } else {
            const r = s.last_report || {};
            el.indexState.textContent = `索引已更新：${r.documents ?? "?"} 篇文档，${r.passages ?? "?"} 个段落`;
            for (const skipped of r.skipped || []) {
              if (names.includes(skipped.source)) el.uploadErrors.append(h("li", {}, `${skipped.source}：${skipped.reason}`));
            }
          }
          el.indexBox.dataset.done = "true";
          answers.clear();
          for (const n of names) docs.delete(n);
          el.docList.replaceChildren();
          if (!el.intro.hidden) await showIntro(generation);
          return;
        }
        el.indexBox.dataset.done = "false";
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
    } catch (err) {
      showError(err);
    } finally {
      polling = false;
    }
  }

  el.fileInput.addEventListener("change", () => {
    const files = Array.from(el.fileInput.files || []);
    el.fileInput.value = "";
    if (files.length) upload(files);
  });
  for (const type of ["dragenter", "dragover"]) {
    el.dropZone.addEventListener(type, (ev) => { ev.preventDefault(); el.dropZone.classList.add("over"); });
  }
  el.dropZone.addEventListener("dragleave", () => el.dropZone.classList.remove("over"));
  el.dropZone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    el.dropZone.classList.remove("over");
    const files = Array.from((ev.dataTransfer && ev.dataTransfer.files) || []);
    if (files.length) upload(files);
  });

  // -- the API key ----------------------------------------------------------------------------

  function askForKey(err) {
    const had = sessionStorage.getItem(KEY_STORE);
    sessionStorage.removeItem(KEY_STORE);
    setStatus(null);
    el.keyMessage.textContent = had
      ? "这个密钥不正确，请重新输入。"
      : "这个服务设置了访问密钥。密钥只保存在本标签页中，关闭后即清除。";
    el.keyForm.hidden = false;
    el.keyInput.value = "";
    el.keyInput.focus();
  }

  el.keyForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = el.keyInput.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    el.keyForm.hidden = true;
    route();
  });

  // -- wiring ---------------------------------------------------------------------------------

  el.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = el.q.value.trim();
    if (!q) {
      setStatus("error", "请输入问题或关键词。");
      el.q.focus();
      return;
    }
    if (urlFor({ q }) === location.pathname + location.search) answers.delete(q);  // same question: ask again
    navigate({ q });
  });

  el.back.addEventListener("click", () => {
    const q = new URLSearchParams(location.search).get("q") || "";
    if (history.state && history.state.wenda && history.length > 1) history.back();
    else navigate({ q });
  });

  $("home").addEventListener("click", (ev) => {
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate({});
    el.q.focus();
  });

  document.addEventListener("keydown", (ev) => {
    const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
    if (ev.key === "/" && !typing && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      el.q.focus();
      el.q.select();
    } else if (ev.key === "Escape" && !el.docView.hidden && !typing) {
      el.back.click();
    }
  });

  window.addEventListener("popstate", route);
  route();
})();
