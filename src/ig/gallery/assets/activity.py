"""Style and script of the jobs, create and usage pages (``ig.gallery.activity_pages``).

The script follows open jobs by long polls (``GET /v1/jobs/{id}?wait=20``): the job page reloads
when its job ends, the create form shows its job's outputs. It submits jobs and cancels them
through ``ig.api``; a request's field problems are shown beside the fields they name."""

CSS = r"""
.page-head{display:flex;align-items:center;justify-content:space-between;gap:1rem;flex-wrap:wrap;margin-bottom:.6rem}
.page-head h1{margin:0}
.small{font-size:.8rem}
.number{text-align:right;font-variant-numeric:tabular-nums}
th[scope=row]{color:var(--fg);font-size:inherit;font-weight:500}
.table-scroll{overflow-x:auto}
.crumbs{margin:0 0 .4rem;color:var(--muted)}
.empty{text-align:center;color:var(--muted);padding:2rem}
.field-error{display:block;color:var(--danger);font-size:.8rem;white-space:pre-line}
.field-error:empty{display:none}

/* filters */
form.filters{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:flex-end;margin-bottom:1rem}
form.filters label{display:flex;flex-direction:column;gap:.15rem}
form.filters input{width:11rem}
form.filters .actions{display:flex;gap:.5rem}
form.filters p.field-error{flex-basis:100%;margin:0}
.pager{display:flex;gap:.6rem;justify-content:flex-end;margin-top:1rem}

/* tables of jobs */
table.jobs td{vertical-align:middle}
table.jobs tr.has-error td{border-bottom:none}
table.jobs tr.error-row td{padding-top:0;font-size:.85rem}
table.jobs time{white-space:nowrap}
@media (max-width:720px){
table.jobs thead{display:none}table.jobs,table.jobs tbody{display:block}
table.jobs tr{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem .9rem;padding:.6rem 0;
border-bottom:1px solid var(--line)}
table.jobs td{border:none;padding:0}table.jobs td:nth-child(8){flex-basis:100%}
table.jobs tr.has-error{border-bottom:none;padding-bottom:0}table.jobs tr.error-row td:first-child{display:none}}
.thumbs{display:flex;flex-wrap:wrap;gap:.3rem;align-items:center}
.thumb{display:block;width:44px;height:44px;border-radius:6px;overflow:hidden;border:1px solid var(--line);
background:var(--bg)}
.thumb img{width:100%;height:100%;object-fit:cover;display:block}
.thumbs.large .thumb{width:148px;height:148px}
.kind-tile{display:flex;width:100%;height:100%;align-items:center;justify-content:center;font-size:.7rem;
color:var(--muted);text-transform:uppercase;letter-spacing:.04em;
background:repeating-linear-gradient(45deg,transparent 0 6px,color-mix(in srgb,var(--line) 60%,transparent) 6px 12px)}
.kind-tile::before{font-size:1rem;margin-right:.25rem}
.thumbs:not(.large) .kind-tile{font-size:0}.thumbs:not(.large) .kind-tile::before{margin:0}
.kind-video::before{content:"\25B6\FE0E"}.kind-audio::before{content:"\266B"}
.kind-text::before{content:"\00B6"}.kind-file::before{content:"\2193"}.kind-image::before{content:"\25CC"}
.thumbs .more{font-size:.8rem;color:var(--muted)}

/* one job */
.job-grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem;align-items:start}
@media (max-width:800px){.job-grid{grid-template-columns:1fr}}
.job-grid .wide,.job-grid .job-error{grid-column:1/-1}
.job-grid h2{margin-top:0}
.job-error{border-color:var(--danger)}
.job-error h2{color:var(--danger)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 .8rem}
dl.facts dt{color:var(--muted);font-size:.85rem}dl.facts dd{margin:0;overflow-wrap:anywhere}
table.params th{width:30%;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--fg);font-weight:400}
table.params td{overflow-wrap:anywhere}
.live{display:flex;align-items:center;gap:.8rem;margin-bottom:1rem}
.live button{margin-left:auto}
.spinner{width:1rem;height:1rem;border-radius:50%;border:2px solid var(--line);border-top-color:var(--accent);
animation:spin 1s linear infinite;flex:none}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.spinner{animation:none}}

/* create */
.create-layout{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem;align-items:start}
@media (max-width:900px){.create-layout{grid-template-columns:1fr}}
form.create fieldset{border:none;padding:0;margin:0 0 .8rem;display:flex;gap:1rem;align-items:center}
form.create legend{float:left;margin-right:.6rem;color:var(--muted);font-size:.85rem}
form.create label.inline{display:flex;gap:.3rem;align-items:center;color:var(--fg);font-size:.95rem}
form.create .row{display:flex;flex-wrap:wrap;gap:.8rem}
form.create .row .field{flex:1 1 9rem}
form.create .field{margin-bottom:.8rem}
form.create .field label{display:flex;flex-direction:column;gap:.2rem}
form.create .field select,form.create .field input,form.create .field textarea{width:100%}
form.create textarea{resize:vertical;min-height:5rem}
form.create .field.invalid input,form.create .field.invalid select,form.create .field.invalid textarea{
border-color:var(--danger)}
.preset-variables{border-left:3px solid var(--accent);padding-left:.8rem;margin-bottom:.8rem}
.form-problem{white-space:pre-line;margin-bottom:.8rem}
form.create .actions{display:flex;justify-content:flex-end}
button[disabled]{opacity:.6;cursor:progress}
button{user-select:none}
.progress h2{margin-top:0;display:flex;gap:.5rem;align-items:center}

/* usage */
form.period{display:flex;gap:.5rem;align-items:center}
form.period label{display:flex;gap:.4rem;align-items:center;color:var(--fg);font-size:.95rem}
.totals{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:1rem;margin:1rem 0}
.totals .panel{display:flex;flex-direction:column}
.totals strong{font-size:1.6rem;font-variant-numeric:tabular-nums}
.usage-section{margin-bottom:1rem}.usage-section h2{margin-top:0}
.chart-pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem 2rem}
.chart-figure{margin:0 0 .8rem;overflow-x:auto}
.chart-figure figcaption{font-size:.85rem;color:var(--muted);margin-bottom:.3rem}
svg.chart{width:100%;min-width:30rem;height:auto;display:block;overflow:visible}
svg.chart text{fill:var(--muted);font-size:11px;font-family:inherit}
svg.chart text.label{fill:var(--fg);font-size:12px}
svg.chart .bar{fill:var(--accent)}
.chart-figure.cost svg.chart .bar{fill:var(--ok)}
svg.chart .bar:hover{opacity:.8}
svg.chart line.baseline{stroke:var(--line);stroke-width:1}
svg.chart line.grid{stroke:var(--line);stroke-width:1;stroke-dasharray:3 3}
.chart-empty{color:var(--muted);padding:1.5rem;text-align:center;border:1px dashed var(--line);border-radius:6px;
margin:0}
details summary{cursor:pointer;color:var(--muted);font-size:.9rem;margin:.4rem 0}
"""

JS = r"""
"use strict";
(() => {
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const SIZED_TASKS = new Set(["imageInference", "videoInference"]);
  const THUMBNAIL_CHECKS = 20;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const jobPath = (id) => `/v1/jobs/${encodeURIComponent(id)}`;

  // Long-polls the job until it ends (each poll is held up to 20 s by ig); a failed poll is
  // tried again later, except when the job is gone or the session is.
  async function follow(id, onChange) {
    let pause = 1000;
    for (;;) {
      let job;
      try {
        job = await ig.api("GET", `${jobPath(id)}?wait=20`);
        pause = 1000;
      } catch (error) {
        if (error.status === 404 || error.status === 401) throw error;
        await sleep(pause);
        pause = Math.min(pause * 2, 15000);
        continue;
      }
      if (onChange) onChange(job);
      if (TERMINAL.has(job.status)) return job;
    }
  }

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    node.append(...children);
    return node;
  }

  // An artifact as a link to its page: its thumbnail, or a tile naming its kind until it has one.
  function tile(artifact) {
    const link = element("a", { className: "thumb", href: `/artifacts/${encodeURIComponent(artifact.id)}` });
    link.dataset.testid = "create-result";
    link.dataset.artifactId = artifact.id;
    if (artifact.thumbnail_url) {
      link.append(element("img", { src: `/ui/v1/artifacts/${encodeURIComponent(artifact.id)}/thumbnail`,
        alt: `${artifact.kind} ${artifact.id.slice(0, 8)}` }));
    } else {
      link.append(element("span", { className: `kind-tile kind-${artifact.kind}`, textContent: artifact.kind }));
    }
    return link;
  }

  // Thumbnails are made just after the outputs are stored: a finished job is looked at again for
  // a little while until its images have theirs.
  async function withThumbnails(job, stillWanted = () => true) {
    let seen = job;
    for (let i = 0; i < THUMBNAIL_CHECKS && stillWanted(); i++) {
      if (!seen.artifacts.some((a) => a.kind === "image" && !a.thumbnail_url)) break;
      await sleep(500);
      seen = await ig.api("GET", jobPath(job.id));
    }
    return seen;
  }

  // --- the job page: follow an open job, cancel it ----------------------------------------------

  const live = document.querySelector("[data-job-live]");
  if (live) {
    follow(live.dataset.jobLive).then(withThumbnails).then(
      () => window.location.reload(),
      (error) => ig.notice(error.message, "error"),
    );
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-cancel-job]");
    if (!button || !window.confirm("Cancel this job? Results that still arrive are kept.")) return;
    button.disabled = true;
    try {
      await ig.api("POST", `${jobPath(button.dataset.cancelJob)}/cancel`);
      window.location.reload();
    } catch (error) {
      ig.notice(error.message, "error");
      button.disabled = false;
    }
  });

  // --- the create form ------------------------------------------------------------------------

  const form = document.getElementById("create-form");
  if (form) createForm(form);

  function createForm(form) {
    const { model, provider, prompt, tags } = form.elements;
    const preset = form.elements.preset || null;
    const submit = form.querySelector("button[type=submit]");
    const problemBox = form.querySelector(".form-problem");
    const taskOut = document.getElementById("create-task");
    const about = document.getElementById("create-about");
    const progress = document.getElementById("create-progress");
    let latest = 0; // which submission the progress panel shows

    const usingPreset = () => form.querySelector('input[name="source"]:checked')?.value === "preset";
    const chosenOption = () => (usingPreset() ? preset : model).selectedOptions[0];
    const shown = (node) => !node.closest("[hidden]");

    function refresh() {
      const fromPreset = usingPreset();
      form.querySelector(".model-choice").hidden = fromPreset;
      const presetChoice = form.querySelector(".preset-choice");
      if (presetChoice) presetChoice.hidden = !fromPreset;
      for (const group of form.querySelectorAll(".preset-variables")) {
        group.hidden = !fromPreset || group.dataset.preset !== preset.value;
      }
      // Aliases the chosen provider does not run cannot be picked; ig's default decides itself.
      for (const option of model.options) {
        option.disabled = provider.value !== "" && !option.dataset.providers.split(" ").includes(provider.value);
      }
      if (model.selectedOptions[0]?.disabled) {
        const usable = [...model.options].find((option) => !option.disabled);
        if (usable) model.value = usable.value;
      }
      const task = chosenOption()?.dataset.task || "";
      taskOut.textContent = task || "set by the model";
      about.textContent = chosenOption()?.title ? `· ${chosenOption().title}` : "";
      for (const field of form.querySelectorAll(".field.sized")) field.hidden = !SIZED_TASKS.has(task);
    }

    function clearProblems() {
      problemBox.hidden = true;
      problemBox.textContent = "";
      for (const box of form.querySelectorAll(".field")) {
        box.classList.remove("invalid");
        box.querySelector(".field-error").textContent = "";
      }
    }

    function fieldFor(name) {
      for (const box of form.querySelectorAll(".field[data-fields]")) {
        const names = box.dataset.fields.split(" ");
        if (shown(box) && names.some((n) => name === n || name.startsWith(`${n}.`) || name.startsWith(`${n}[`))) {
          return box;
        }
      }
      return null;
    }

    function showProblems(error) {
      const errors = error.problem?.errors || [];
      const elsewhere = errors.length ? [] : [error.message];
      for (const problem of errors) {
        const box = fieldFor(problem.field);
        if (!box) {
          elsewhere.push(`${problem.field}: ${problem.message}`);
          continue;
        }
        box.classList.add("invalid");
        const text = box.querySelector(".field-error");
        text.textContent = text.textContent ? `${text.textContent}\n${problem.message}` : problem.message;
      }
      if (elsewhere.length) {
        problemBox.textContent = elsewhere.join("\n");
        problemBox.hidden = false;
      }
      form.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea")?.focus();
    }

    function variableValue(input) {
      const text = input.value.trim();
      if (!input.dataset.json) return text;
      try {
        return JSON.parse(text); // a whole-value placeholder takes the JSON type it is given
      } catch {
        return text;
      }
    }

    function requestBody() {
      const body = { params: {} };
      if (prompt.value.trim()) body.params.prompt = prompt.value.trim();
      for (const name of ["width", "height", "num_outputs", "seed"]) {
        const input = form.elements[name];
        if (shown(input) && input.value !== "") body.params[name] = Number(input.value);
      }
      if (usingPreset()) {
        body.preset = preset.value;
        body.variables = {};
        const group = form.querySelector(`.preset-variables[data-preset="${CSS.escape(preset.value)}"]`);
        for (const input of group.querySelectorAll("[data-variable]")) {
          if (input.value.trim() !== "") body.variables[input.dataset.variable] = variableValue(input);
        }
      } else {
        body.model = model.value;
        body.task = chosenOption().dataset.task;
      }
      if (provider.value) body.provider = provider.value;
      const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
      if (tagList.length) body.tags = tagList;
      return body;
    }

    function showJob(job) {
      const status = progress.querySelector("[data-progress-status]");
      status.className = `status status-${job.status}`;
      status.textContent = job.status;
      const link = progress.querySelector("[data-progress-link]");
      link.href = `/jobs/${encodeURIComponent(job.id)}`;
      link.hidden = false;
      const detail = progress.querySelector("[data-progress-detail]");
      if (job.status === "failed") {
        detail.textContent = job.error ? `${job.error.code}: ${job.error.message}` : "The job failed.";
        detail.className = "error";
      } else {
        const count = job.artifacts.length;
        detail.className = "muted";
        detail.textContent = TERMINAL.has(job.status)
          ? `${job.status === "succeeded" ? "Finished" : "Cancelled"}: ${count} output${count === 1 ? "" : "s"}.`
          : `Waiting for ${job.provider}…`;
      }
      progress.querySelector("[data-progress-results]").replaceChildren(...job.artifacts.map(tile));
      progress.dataset.jobId = job.id;
      progress.dataset.state = job.status;
    }

    async function watch(job, mine) {
      const current = () => mine === latest;
      progress.dataset.done = "";
      showJob(job);
      const ended = TERMINAL.has(job.status) ? job : await follow(job.id, (j) => current() && showJob(j));
      const seen = await withThumbnails(ended, current);
      if (!current()) return;
      showJob(seen);
      progress.dataset.done = "true";
    }

    let submitting = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (submitting) return; // a double click sends one job
      submitting = true;
      submit.disabled = true;
      submit.textContent = "Submitting…";
      clearProblems();
      let job = null;
      try {
        job = await ig.api("POST", "/v1/jobs", requestBody());
      } catch (error) {
        showProblems(error);
      } finally {
        submitting = false;
        submit.disabled = false;
        submit.textContent = "Generate";
      }
      if (!job) return;
      latest += 1;
      watch(job, latest).catch((error) => ig.notice(error.message, "error"));
    });

    form.addEventListener("change", refresh);
    refresh();
  }
})();
"""
