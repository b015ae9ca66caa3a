// Switchboard console: the few behaviours htmx does not have. No data leaves the page
// through here; drafts stay in this tab's sessionStorage.
(function () {
  "use strict";

  const DRAFT = "switchboard-draft:";
  const typing = (el) => el.closest("input, textarea, select, [contenteditable]") !== null;

  // The composer: Enter sends, Shift+Enter is a new line.
  document.addEventListener("keydown", (event) => {
    const area = event.target;
    if (!(area instanceof HTMLTextAreaElement) || !area.matches("[data-enter-sends]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (area.value.trim()) area.form.requestSubmit();
    }
  });

  // A draft survives switching conversations (and a live refresh of the panel).
  document.addEventListener("input", (event) => {
    const area = event.target;
    if (area instanceof HTMLTextAreaElement && area.dataset.draftFor) {
      sessionStorage.setItem(DRAFT + area.dataset.draftFor, area.value);
    }
  });
  function restoreDrafts(root) {
    root.querySelectorAll("textarea[data-draft-for]").forEach((area) => {
      const kept = sessionStorage.getItem(DRAFT + area.dataset.draftFor);
      if (kept && !area.value) area.value = kept;
    });
  }
  document.addEventListener("htmx:load", (event) => restoreDrafts(event.target));
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !event.detail.successful) return;
    form.querySelectorAll("textarea").forEach((area) => {
      if (area.dataset.draftFor) sessionStorage.removeItem(DRAFT + area.dataset.draftFor);
      area.value = "";
    });
  });

  // A stream that opens again (after the server restarted, or the network came back)
  // may have missed changes: every live panel fetches its current state.
  let opened = false;
  document.addEventListener("htmx:sseOpen", () => {
    if (opened) document.body.dispatchEvent(new CustomEvent("console-resync"));
    opened = true;
  });

  // A revealed phone number is shown once, then taken out of the page.
  function hideLater(root) {
    const found = [...root.querySelectorAll("[data-hide-after]")];
    if (root.matches && root.matches("[data-hide-after]")) found.push(root);
    found.forEach((el) => {
      window.setTimeout(() => el.remove(), Number(el.dataset.hideAfter) * 1000);
    });
  }
  document.addEventListener("htmx:load", (event) => hideLater(event.target));

  // Keyboard: j/k (or arrows) move in the inbox, Enter opens, t take over, r release,
  // c the composer, ? the list of shortcuts.
  function press(name) {
    const button = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === name);
    if (button) button.click();
  }
  function move(step) {
    const links = [...document.querySelectorAll("tr.session a")];
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = at < 0 ? 0 : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const actions = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      t: () => press("Take over"), r: () => press("Release to bot"),
      c: () => document.getElementById("composer-text")?.focus(),
      "?": () => { const list = document.getElementById("shortcuts"); if (list) list.open = !list.open; },
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
})();
