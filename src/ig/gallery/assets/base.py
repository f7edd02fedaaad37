"""What every gallery page uses: the layout's style, and ``window.ig`` (calls to ``/ui/v1`` with
the CSRF token, and notices)."""

ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2563eb"/>
<rect x="6" y="6" width="9" height="9" rx="2" fill="#fff"/><rect x="17" y="6" width="9" height="9" rx="2" fill="#bfdbfe"/>
<rect x="6" y="17" width="9" height="9" rx="2" fill="#bfdbfe"/><rect x="17" y="17" width="9" height="9" rx="2" fill="#fff"/></svg>
"""

CSS = r"""
:root{color-scheme:light dark;--bg:#fafaf9;--fg:#1c1917;--muted:#78716c;--line:#e7e5e4;--panel:#fff;
--accent:#2563eb;--on-accent:#fff;--danger:#b91c1c;--ok:#15803d;--warn:#b45309;--radius:8px;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#0c0a09;--fg:#e7e5e4;--muted:#a8a29e;--line:#292524;--panel:#1c1917;
--accent:#60a5fa;--on-accent:#0c0a09;--danger:#f87171;--ok:#4ade80;--warn:#fbbf24}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{display:flex;align-items:center;gap:1.2rem;padding:.6rem 1.2rem;border-bottom:1px solid var(--line);
background:var(--panel);position:sticky;top:0;z-index:10}
header.top .brand{font-weight:700;font-size:1.1rem;color:var(--fg)}
header.top nav{display:flex;gap:1rem;flex:1}
header.top nav a{color:var(--muted);padding:.2rem 0;border-bottom:2px solid transparent}
header.top nav a[aria-current=page]{color:var(--fg);border-bottom-color:var(--accent)}
header.top form{margin:0}
main{padding:1rem 1.2rem 3rem;max-width:110rem;margin:0 auto}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
button,.button{font:inherit;border:1px solid var(--line);background:var(--panel);color:var(--fg);border-radius:6px;
padding:.35rem .8rem;cursor:pointer}
button.primary,.button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}
button.danger{color:var(--danger);border-color:var(--danger)}
input,select,textarea{font:inherit;color:var(--fg);background:var(--panel);border:1px solid var(--line);border-radius:6px;
padding:.35rem .5rem}
label{display:block;font-size:.85rem;color:var(--muted)}
.muted{color:var(--muted)}.error{color:var(--danger)}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.6rem;overflow:auto;max-height:30rem}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:var(--radius);padding:1rem}
.tag{display:inline-block;background:color-mix(in srgb,var(--accent) 12%,transparent);color:var(--fg);
border-radius:999px;padding:0 .55rem;font-size:.8rem;margin:0 .2rem .2rem 0}
.status{display:inline-block;border-radius:4px;padding:0 .4rem;font-size:.8rem;font-weight:600}
.status-succeeded{color:var(--ok)}.status-failed,.status-timed_out{color:var(--danger)}
.status-cancelled{color:var(--muted)}.status-queued,.status-running,.status-submitted{color:var(--warn)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);
vertical-align:top}th{font-size:.8rem;color:var(--muted);font-weight:600}
#notice{position:fixed;bottom:1rem;right:1rem;max-width:28rem;z-index:20}
#notice:empty{display:none}
#notice div{background:var(--panel);border:1px solid var(--line);border-left:4px solid var(--accent);
border-radius:6px;padding:.6rem .8rem;margin-top:.4rem;box-shadow:0 4px 16px rgb(0 0 0 / .15)}
#notice div.error{border-left-color:var(--danger)}
.login{max-width:24rem;margin:12vh auto}.login input{width:100%;margin:.3rem 0 .8rem}
"""

JS = r"""
"use strict";
(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function problemText(problem, status) {
    if (!problem || typeof problem !== "object") return `HTTP ${status}`;
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`);
    return [problem.detail || problem.title || `HTTP ${status}`, ...fields].join("\n");
  }

  // The API through the gallery's session: ig.api("GET", "/v1/jobs") calls /ui/v1/jobs, which is
  // /v1/jobs authorised by the cookie; everything but a read must carry the page's CSRF token.
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { accept: "application/json", "x-csrf-token": csrf() } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch("/ui" + path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const error = new Error(problemText(data, response.status));
      error.status = response.status;
      error.problem = data;
      throw error;
    }
    return data;
  }

  function notice(message, kind) {
    const box = document.getElementById("notice");
    const line = document.createElement("div");
    line.setAttribute("role", kind === "error" ? "alert" : "status");
    if (kind) line.className = kind;
    line.textContent = message;
    box.append(line);
    setTimeout(() => line.remove(), kind === "error" ? 12000 : 5000);
  }

  // <form data-confirm="..."> asks before it is sent (deleting, logging out).
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  window.ig = { api, notice, csrf };
})();
"""
