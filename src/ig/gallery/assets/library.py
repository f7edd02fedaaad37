"""Style and script of the library grid and the artifact page (``ig.gallery.library_pages``)."""

CSS = r"""
.library-head{display:flex;align-items:baseline;justify-content:space-between;gap:1rem}
.filters{margin-bottom:1rem;padding:.8rem 1rem}
.filters .row{display:flex;flex-wrap:wrap;gap:.7rem 1rem;align-items:flex-end}
.filters .field{display:flex;flex-direction:column;gap:.2rem;min-width:9rem;margin:0}
.filters .field:has(#f-q){flex:1 1 16rem}
.filters .submit{min-width:0}
.filters input,.filters select{height:2.3rem}
.filters fieldset{border:0;padding:0}
.filters legend{font-size:.85rem;color:var(--muted);padding:0;margin-bottom:.2rem}
.filters .tags-filter{flex-direction:row;flex-wrap:wrap;gap:.3rem}
.tags-filter input{width:8.5rem}
.more-filters summary{cursor:pointer;color:var(--muted);font-size:.9rem;margin-top:.6rem;width:max-content}
.more-filters .row{margin-top:.6rem}
[aria-invalid=true]{border-color:var(--danger);outline:1px solid var(--danger)}
.filter-errors{margin-bottom:1rem}.filter-errors p{margin:0}.filter-errors ul{margin:.3rem 0 0}

.grid{list-style:none;margin:0;padding:0;display:grid;gap:.6rem;
grid-template-columns:repeat(auto-fill,minmax(min(200px,calc(50% - .3rem)),1fr))}
.tile a{display:block;position:relative;aspect-ratio:1;border-radius:var(--radius);overflow:hidden;
background:var(--panel);border:1px solid var(--line);color:var(--fg)}
.tile a:hover{text-decoration:none;border-color:var(--accent)}
.tile a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.tile img{display:block;width:100%;height:100%;object-fit:cover;transition:transform .25s ease}
.tile a:hover img{transform:scale(1.03)}
.tile .meta{position:absolute;left:0;right:0;bottom:0;display:flex;flex-direction:column;gap:.1rem;
padding:1.8rem .6rem .5rem;background:linear-gradient(transparent,rgb(0 0 0 / .78));color:#fff;font-size:.8rem;
line-height:1.3;opacity:0;transition:opacity .15s}
.tile a:hover .meta,.tile a:focus-visible .meta{opacity:1}
@media (hover:none){.tile .meta{opacity:1}}
.tile .caption{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
.tile .badge{position:absolute;top:.4rem;left:.4rem;padding:.05rem .45rem;border-radius:4px;font-size:.75rem;
background:rgb(0 0 0 / .65);color:#fff}
.tile time{font-size:.72rem;opacity:.85}
.kind-tile{display:flex;flex-direction:column;align-items:center;justify-content:center;gap:.35rem;height:100%;
color:var(--muted);background:color-mix(in srgb,var(--accent) 6%,var(--panel));font-size:.85rem}
.tile-video .kind-tile{background:color-mix(in srgb,var(--fg) 85%,var(--accent));color:var(--bg)}
.tile-audio .kind-tile{background:color-mix(in srgb,var(--ok) 12%,var(--panel))}
.icon{width:3rem;height:3rem;fill:none;stroke:currentColor;stroke-width:1.5;stroke-linecap:round;stroke-linejoin:round}
.icon .fill{fill:currentColor}
.text-tile{align-items:stretch;justify-content:flex-start;padding:.8rem;background:var(--panel)}
.text-start{font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--fg);white-space:pre-wrap;
overflow-wrap:anywhere;overflow:hidden}
.pager{display:flex;justify-content:center;margin:1.5rem 0}
.empty{max-width:42rem;margin:2rem auto}.empty h2{margin-top:0}

.artifact-page{display:grid;grid-template-columns:minmax(0,1fr) 23rem;gap:1.5rem;align-items:start}
@media (max-width:960px){.artifact-page{grid-template-columns:minmax(0,1fr)}}
.viewer{display:flex;align-items:center;justify-content:center;min-height:18rem;padding:.75rem;
background:var(--panel);border:1px solid var(--line);border-radius:var(--radius)}
.viewer-image{background:repeating-conic-gradient(color-mix(in srgb,var(--line) 55%,transparent) 0 25%,transparent 0 50%)
0 0/20px 20px,var(--panel)}
.viewer-text{align-items:stretch;justify-content:flex-start;min-height:0}
.viewer img,.viewer video{display:block;width:auto;height:auto;max-width:100%;max-height:78vh;border-radius:4px}
.audio-player{display:flex;flex-direction:column;align-items:center;gap:1rem;width:100%;padding:2rem;color:var(--muted)}
.audio-player audio{width:100%;max-width:34rem}
.text-content{width:100%;margin:0;max-height:72vh;white-space:pre-wrap;overflow-wrap:anywhere;border:0}
.file-tile{padding:2rem;background:none}
.tombstone{width:100%;text-align:center;border-color:var(--danger)}.tombstone h2{color:var(--danger);margin-top:0}
.side .title{font-size:1.2rem;line-height:1.35;margin:0 0 .2rem;overflow-wrap:anywhere}
.side .summary{margin:0 0 .8rem;font-size:.85rem}
.side h2{font-size:.95rem;margin:1rem 0 .4rem}
.actions{display:flex;gap:.5rem;flex-wrap:wrap}
a.button{display:inline-block}a.button:hover{text-decoration:none}
.chips{list-style:none;margin:0 0 .5rem;padding:0;display:flex;flex-wrap:wrap;gap:.3rem}
.chips:empty::before{content:"No tags yet.";color:var(--muted);font-size:.85rem}
.chip{display:inline-flex;align-items:center;gap:.1rem;padding:.05rem .15rem .05rem .6rem;border-radius:999px;
background:color-mix(in srgb,var(--accent) 14%,transparent);font-size:.85rem}
.chip button{border:0;background:none;padding:0 .4rem;border-radius:999px;color:var(--muted);font-size:1rem;line-height:1.3}
.chip button:hover,.chip button:focus-visible{color:var(--danger);background:color-mix(in srgb,var(--danger) 12%,transparent)}
.tag-add{display:flex;gap:.4rem}.tag-add input{flex:1;min-width:0}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.4rem .9rem;margin:1.2rem 0 0;font-size:.9rem}
.facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}
.hash{font-size:11px;overflow-wrap:anywhere}
table.params th,table.timings th{width:11rem;font-size:.85rem;font-weight:500;color:var(--muted)}
table.params td{overflow-wrap:anywhere}
.strip{grid-template-columns:repeat(auto-fill,minmax(130px,1fr))}
.strip .tile .meta{font-size:.72rem;padding-top:1.2rem}
.details{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(24rem,100%),1fr));gap:0 2.5rem}
.raw summary{cursor:pointer;font-weight:600;margin:1.5rem 0 .5rem}
"""

JS = r"""
"use strict";
(() => {
  const NOTICE_KEY = "ig.notice";

  // A notice carried over a page change (the deleted artifact's page goes back to the library).
  const carried = sessionStorage.getItem(NOTICE_KEY);
  if (carried) {
    sessionStorage.removeItem(NOTICE_KEY);
    ig.notice(carried);
  }

  // The grid's "Load more" link, followed as it comes into view: the same route answers the next
  // page's tiles and its own link as a fragment, which replace the link.
  const results = document.getElementById("results");
  if (results && "IntersectionObserver" in window) {
    let busy = false;
    const observer = new IntersectionObserver(async (entries) => {
      if (busy || !entries.some((entry) => entry.isIntersecting)) return;
      const link = results.querySelector(".pager a.more");
      if (!link) return;
      busy = true;
      try {
        await appendNextPage(link);
        watch();
      } catch (error) {
        observer.disconnect();
        ig.notice(`The next page did not load: ${error.message}`, "error");
      } finally {
        busy = false;
      }
    }, { rootMargin: "400px 0px" });
    const watch = () => {
      observer.disconnect();
      const link = results.querySelector(".pager a.more");
      if (link) observer.observe(link);
    };
    watch();
  }

  async function appendNextPage(link) {
    const url = new URL(link.href);
    url.searchParams.set("fragment", "1");
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    if (!response.ok) throw new Error(page.body.textContent.trim() || `HTTP ${response.status}`);
    results.querySelector(".grid").append(...[...page.querySelectorAll(".grid > li")].map((tile) => document.adoptNode(tile)));
    results.querySelector(".pager").replaceWith(document.adoptNode(page.querySelector(".pager")));
  }

  // Tags edited in place: the API answers the artifact's tags, which the chips then show.
  const tagForm = document.getElementById("tag-add");
  if (tagForm) {
    const list = document.getElementById("tag-list");
    const path = `/v1/artifacts/${encodeURIComponent(tagForm.dataset.artifactId)}/tags`;
    const chip = (tag) => {
      const item = document.createElement("li");
      item.className = "chip";
      const name = document.createElement("span");
      name.textContent = tag;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.dataset.removeTag = tag;
      remove.title = "Remove";
      remove.setAttribute("aria-label", `Remove tag ${tag}`);
      remove.textContent = "\u00d7";
      item.append(name, remove);
      return item;
    };
    const edit = async (change) => {
      try {
        const answer = await ig.api("POST", path, change);
        list.replaceChildren(...answer.tags.map(chip));
        return true;
      } catch (error) {
        ig.notice(error.message, "error");
        return false;
      }
    };
    tagForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = tagForm.elements.tag;
      const tag = input.value.trim();
      if (tag && (await edit({ add: [tag] }))) input.value = "";
    });
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-remove-tag]");
      if (button) edit({ remove: [button.dataset.removeTag] });
    });
  }

  // Deleting asks first; the page then goes back to the library, which says it is done.
  const deleteButton = document.querySelector("[data-delete-artifact]");
  if (deleteButton) {
    deleteButton.addEventListener("click", async () => {
      if (!window.confirm("Delete this artifact? Its file is removed for good; what made it stays on record.")) return;
      deleteButton.disabled = true;
      try {
        await ig.api("DELETE", `/v1/artifacts/${encodeURIComponent(deleteButton.dataset.deleteArtifact)}`);
      } catch (error) {
        deleteButton.disabled = false;
        ig.notice(error.message, "error");
        return;
      }
      sessionStorage.setItem(NOTICE_KEY, "The artifact was deleted.");
      window.location.assign("/");
    });
  }
})();
"""
