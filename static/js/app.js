/*
 * ResolutionFlow browser behaviour. No framework, no inline scripts (strict CSP).
 *
 * Everything here is progressive enhancement: every page works without it.
 * Sections:
 *   1. Utilities
 *   2. htmx errors: a toast for responses htmx does not swap (config: base.html)
 *   3. Toasts (Django messages + htmx "toast" events)
 *   4. Copy to clipboard ([data-copy-target], [data-copy-text])
 *   5. Times: relative (<time data-relative>) and live elapsed ([data-elapsed-since])
 *   6. Boot: initialisers run on page load and after every htmx swap
 *
 * Colours and sizes come from the server (the outcomes' stylesheet, <progress>
 * timeline bars); popovers (account menus, close popover) and dialogs are
 * native (popovertarget, command="show-modal", closedby): nothing here writes
 * styles or opens and closes them.
 *
 * The sections below use window.ResolutionFlow.toast(message, level) and
 * window.ResolutionFlow.writeClipboard(text).
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /* 1. Utilities ---------------------------------------------------------- */

  /** Every element in `root` (itself included) matching `selector`. */
  function within(root, selector) {
    const found = Array.from(root.querySelectorAll ? root.querySelectorAll(selector) : []);
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function parseDate(value) {
    if (!value) return null;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  /* 2. htmx errors ---------------------------------------------------------- */

  // base.html's htmx-config swaps 409 and 422 bodies like a 200 and leaves other
  // 4xx/5xx unswapped: those raise a toast here.

  const HTTP_ERROR_MESSAGES = {
    403: "You don't have permission to do that.",
    404: "That item no longer exists, or you can't see it.",
    413: "That was too large to send.",
    429: "Too many requests. Wait a moment and try again.",
    503: "The server is briefly unavailable. What you sent may not be saved; try again in a moment.",
  };

  function handleHtmxError(event) {
    const xhr = event.detail.xhr;
    const status = xhr ? xhr.status : 0;
    if (status === 409 || status === 422) return;
    // A response that sent its own toast (HX-Trigger) has already explained itself.
    if (xhr && /"toast"/.test(xhr.getResponseHeader("HX-Trigger") || "")) return;
    const message =
      HTTP_ERROR_MESSAGES[status] ||
      (status >= 500
        ? "Something went wrong on our side. Nothing was changed; please try again."
        : "That didn't work (error " + status + "). Please reload the page and try again.");
    showToast(message, "error");
  }

  function handleHtmxSendError() {
    showToast("Can't reach the server. Check your connection and try again.", "error");
  }

  /* 3. Toasts --------------------------------------------------------------- */

  const TOAST_LEVELS = ["info", "success", "warning", "error"];
  const TOAST_TIMEOUT_MS = 5000;
  const TOAST_MAX = 4;

  function toastRegion() {
    return document.getElementById("toast-region");
  }

  // base.html always includes the blueprint (_toast_template.html).
  function buildToast(message, level) {
    const template = document.getElementById("toast-template");
    const toast = template.content.firstElementChild.cloneNode(true);
    toast.dataset.level = level;
    toast.querySelector(".toast-message").textContent = message;
    return toast;
  }

  /**
   * Show a toast. `level` is info, success, warning or error.
   * Text only: the message is never parsed as HTML.
   */
  function showToast(message, level) {
    const region = toastRegion();
    if (!region || !message) return null;
    const safeLevel = TOAST_LEVELS.includes(level) ? level : "info";
    const toast = buildToast(String(message), safeLevel);
    region.appendChild(toast);
    const toasts = region.querySelectorAll("[data-toast]:not(.is-leaving)");
    for (let i = 0; i < toasts.length - TOAST_MAX; i += 1) dismissToast(toasts[i]);
    armToast(toast);
    return toast;
  }

  /** Start a toast's auto-dismiss timer; hovering or focusing it pauses the timer. */
  function armToast(toast) {
    if (toast.dataset.toastArmed) return;
    toast.dataset.toastArmed = "true";
    let remaining = TOAST_TIMEOUT_MS;
    let startedAt = 0;
    let timer = null;
    const start = function () {
      if (timer !== null) return;
      startedAt = Date.now();
      timer = window.setTimeout(function () {
        dismissToast(toast);
      }, remaining);
    };
    const pause = function () {
      if (timer === null) return;
      window.clearTimeout(timer);
      timer = null;
      remaining = Math.max(1000, remaining - (Date.now() - startedAt));
    };
    toast.addEventListener("mouseenter", pause);
    toast.addEventListener("focusin", pause);
    toast.addEventListener("mouseleave", function () {
      if (!toast.contains(document.activeElement)) start();
    });
    toast.addEventListener("focusout", function (event) {
      if (!toast.contains(event.relatedTarget)) start();
    });
    start();
  }

  function dismissToast(toast) {
    if (!toast || toast.classList.contains("is-leaving")) return;
    if (toast.contains(document.activeElement)) {
      const main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
    toast.classList.add("is-leaving");
    const remove = function () {
      toast.remove();
    };
    toast.addEventListener("animationend", remove, { once: true });
    window.setTimeout(remove, 400); // in case animations are off
  }

  function initToasts(root) {
    within(root, "[data-toast]").forEach(armToast);
  }

  /**
   * htmx dispatches HX-Trigger events on the element that made the request;
   * they bubble to <body>. django_htmx's trigger_client_event(response, "toast",
   * {"message": "…", "level": "success"}) arrives here as event.detail.
   */
  function handleToastEvent(event) {
    const detail = event.detail || {};
    const message = typeof detail === "string" ? detail : detail.message || detail.value;
    showToast(message, detail.level);
  }

  /* 4. Copy to clipboard ---------------------------------------------------- */

  function copySource(button) {
    if (button.hasAttribute("data-copy-text")) return button.getAttribute("data-copy-text");
    const target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) return null;
    if ("value" in target && typeof target.value === "string") return target.value;
    return target.innerText !== undefined ? target.innerText : target.textContent;
  }

  function copyWithSelection(text) {
    // Fallback for browsers without the async clipboard (plain-http intranets).
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (error) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  async function writeClipboard(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (error) {
        return copyWithSelection(text);
      }
    }
    return copyWithSelection(text);
  }

  async function handleCopyClick(event) {
    const button = event.target.closest("[data-copy-target], [data-copy-text]");
    if (!button) return;
    event.preventDefault();
    const text = copySource(button);
    if (text === null) {
      showToast("There is nothing to copy.", "warning");
      return;
    }
    if (await writeClipboard(text)) {
      button.classList.add("is-copied");
      window.setTimeout(function () {
        button.classList.remove("is-copied");
      }, 2000);
      showToast(button.getAttribute("data-copy-message") || "Copied to clipboard", "success");
    } else {
      showToast("Couldn't copy. Select the text and copy it manually.", "error");
    }
  }

  /* 5. Times ---------------------------------------------------------------- */

  const DAY_MS = 24 * 60 * 60 * 1000;

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  /** "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago", else a date. */
  function formatRelative(date, now) {
    const diff = now.getTime() - date.getTime();
    const future = diff < 0;
    const seconds = Math.round(Math.abs(diff) / 1000);
    if (seconds < 45) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return future ? "in " + minutes + " min" : minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    const dayDelta = Math.round((startOfDay(now) - startOfDay(date)) / DAY_MS);
    if (future) {
      if (hours < 24) return "in " + hours + " h";
    } else if (dayDelta === 0 || hours < 6) {
      return hours + " h ago";
    } else if (dayDelta === 1) {
      return "yesterday";
    } else if (dayDelta < 7) {
      return dayDelta + " days ago";
    }
    const sameYear = date.getFullYear() === now.getFullYear();
    return date.toLocaleDateString(undefined, {
      day: "numeric",
      month: "short",
      year: sameYear ? undefined : "numeric",
    });
  }

  /** "42s", "12m 05s", "1h 04m", "26h 10m". */
  function formatElapsed(totalSeconds) {
    const seconds = Math.max(0, Math.floor(totalSeconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (h > 0) return h + "h " + pad(m) + "m";
    if (m > 0) return m + "m " + pad(s) + "s";
    return s + "s";
  }

  function updateRelativeTime(element, now) {
    const date = parseDate(element.getAttribute("datetime"));
    if (!date) return;
    if (!element.dataset.exact) {
      // The server rendered the exact time; keep it as the tooltip.
      element.dataset.exact = element.textContent.trim() || date.toLocaleString();
      if (!element.title) element.title = element.dataset.exact;
    }
    const text = formatRelative(date, now);
    if (element.textContent !== text) element.textContent = text;
  }

  function updateElapsed(element, now) {
    const since = parseDate(element.getAttribute("data-elapsed-since"));
    if (!since) return;
    const text = formatElapsed((now.getTime() - since.getTime()) / 1000);
    if (element.textContent !== text) element.textContent = text;
  }

  function initTimes(root) {
    const now = new Date();
    within(root, "time[data-relative]").forEach(function (element) {
      updateRelativeTime(element, now);
    });
    within(root, "[data-elapsed-since]").forEach(function (element) {
      updateElapsed(element, now);
    });
  }

  function tickTimes() {
    const now = new Date();
    document.querySelectorAll("[data-elapsed-since]").forEach(function (element) {
      updateElapsed(element, now);
    });
    if (now.getSeconds() % 30 === 0) {
      document.querySelectorAll("time[data-relative]").forEach(function (element) {
        updateRelativeTime(element, now);
      });
    }
  }

  /* Greeting by the reader's local time ("Good morning" rendered in server time). */
  function initGreeting(root) {
    within(root, "[data-greeting]").forEach(function (element) {
      const hour = new Date().getHours();
      element.textContent =
        hour < 12 ? "Good morning" : hour < 18 ? "Good afternoon" : "Good evening";
    });
  }

  /* 6. Boot ----------------------------------------------------------------- */

  function initialise(root) {
    [initToasts, initTimes, initGreeting].forEach(function (init) {
      init(root);
    });
  }

  function boot() {
    document.body.addEventListener("toast", handleToastEvent);
    document.body.addEventListener("htmx:responseError", handleHtmxError);
    document.body.addEventListener("htmx:sendError", handleHtmxSendError);
    document.addEventListener("htmx:load", function (event) {
      if (event.target !== document.body) initialise(event.target);
    });
    document.addEventListener("click", handleCopyClick);
    document.addEventListener("click", function (event) {
      const dismiss = event.target.closest("[data-toast-dismiss]");
      if (dismiss) dismissToast(dismiss.closest("[data-toast]"));
    });
    initialise(document.body);
    window.setInterval(tickTimes, 1000);
  }

  window.ResolutionFlow = {
    toast: showToast,
    writeClipboard: writeClipboard,
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();

/*
 * Exports (owned by the exports feature; see sessions/exports.py).
 *
 * [data-copy-url] buttons ("Copy notes so far" on the navigation page) copy
 * the text that URL returns at the moment of the click, so the copy reflects
 * the session as it is now, not as it was when the page loaded. The fetch is
 * handed to the clipboard as a promise (ClipboardItem) so browsers that tie
 * clipboard writes to the click (Safari) still accept it. The buttons show
 * once app.js has set the `.js` class (sessions.css): without JavaScript a
 * plain link stands in.
 */
(function () {
  "use strict";

  function toast(message, level) {
    if (window.ResolutionFlow) window.ResolutionFlow.toast(message, level);
  }

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/plain" } }).then(
      function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      }
    );
  }

  async function copyFromUrl(url) {
    const text = fetchText(url);
    const clipboard = window.isSecureContext ? navigator.clipboard : null;
    if (clipboard && clipboard.write && window.ClipboardItem) {
      try {
        const blob = text.then(function (value) {
          return new Blob([value], { type: "text/plain" });
        });
        await clipboard.write([new window.ClipboardItem({ "text/plain": blob })]);
        return true;
      } catch (error) {
        // Fall through: some browsers refuse a promised blob but take plain text.
      }
    }
    return window.ResolutionFlow.writeClipboard(await text);
  }

  async function handleCopyUrlClick(event) {
    const button = event.target.closest("[data-copy-url]");
    if (!button) return;
    event.preventDefault();
    let ok = false;
    try {
      ok = await copyFromUrl(button.getAttribute("data-copy-url"));
    } catch (error) {
      ok = false;
    }
    if (ok) {
      button.classList.add("is-copied");
      window.setTimeout(function () {
        button.classList.remove("is-copied");
      }, 2000);
      toast(button.getAttribute("data-copy-message") || "Copied to clipboard", "success");
    } else {
      toast("Couldn't copy the notes. Try again, or open them from the Export panel.", "error");
    }
  }

  document.addEventListener("click", handleCopyUrlClick);
})();

/* ==========================================================================
 * Close popover and filters of the session history (history feature).
 * Markup: templates/sessions/_close_popover.html and history.html.
 * Kept apart from the sections above; uses only window.ResolutionFlow.
 *
 * The popover is native (popover + popovertarget: one open at a time, Escape,
 * a click outside, Cancel, focus back to Close) and htmx loads its form and
 * focuses the select ([autofocus]). What is left here:
 * - Confirm stays disabled until an outcome is chosen (the form arrives with
 *   it disabled; without JS the select's `required` and the server check).
 * - Closed without Confirm, the form is reset for the next opening.
 * - A click outside that leaves the focus nowhere meaningful gives it back to
 *   Close (the browser restores it only after Escape or Cancel).
 * - Filters: empty fields stay out of the pushed URL, and going back in
 *   history puts the form's fields back to what the URL says.
 * ========================================================================== */
(function () {
  "use strict";

  // Where a click may rightly move focus; elsewhere (text, <main tabindex="-1">)
  // focus goes back to the Close button.
  const INTERACTIVE =
    "a[href], button, input, select, textarea, summary, [contenteditable], " +
    "[tabindex]:not([tabindex='-1'])";

  function syncConfirm(form) {
    const select = form.querySelector('select[name="outcome"]');
    const confirm = form.querySelector("[data-close-confirm]");
    if (select && confirm) confirm.disabled = !select.value;
  }

  function handleChange(event) {
    if (event.target.matches('[data-close-form] select[name="outcome"]')) {
      syncConfirm(event.target.form);
    }
  }

  // Closed without Confirm: nothing chosen is kept for the next opening.
  function handlePopoverToggle(event) {
    const popover = event.target;
    if (event.newState !== "closed" || !popover.matches("[data-close-popover]")) return;
    const form = popover.querySelector("[data-close-form]");
    if (form) {
      form.reset();
      syncConfirm(form);
    }
    const focused = document.activeElement;
    if (focused && focused !== document.body && focused.matches(INTERACTIVE)) return;
    const button = document.querySelector('[popovertarget="' + popover.id + '"]');
    if (button && button.isConnected) button.focus();
  }

  function requester(event) {
    const config = event.detail && event.detail.requestConfig;
    return config && config.elt && config.elt.matches ? config.elt : null;
  }

  /* Filters --------------------------------------------------------------- */

  function isFilterRequest(event) {
    const elt = event.detail && event.detail.elt;
    return Boolean(elt && elt.id === "history-filters");
  }

  // Leave empty fields out of the query string: /sessions/?status=active, not
  // /sessions/?q=&status=active&outcome=&tree=&from=&to=
  function handleConfigRequest(event) {
    if (!isFilterRequest(event)) return;
    const params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "" || params[name] === undefined) delete params[name];
    });
  }

  // Pagination replaced the list the link was in: bring the reader to the top of it.
  function handleResultsSettled(event) {
    const source = requester(event);
    if (!source || !source.matches("[data-history-page-link]")) return;
    if (event.target.id !== "history-results") return;
    const title = document.getElementById("history-results-title");
    if (title) title.focus();
  }

  // htmx restores a snapshot of the page taken before the filters changed:
  // put the fields back to what the restored URL says.
  function handleHistoryRestore() {
    const form = document.getElementById("history-filters");
    if (!form) return;
    const params = new URLSearchParams(window.location.search);
    Array.from(form.elements).forEach(function (field) {
      if (!field.name || field.type === "submit") return;
      field.value = params.get(field.name) || "";
    });
  }

  function boot() {
    document.addEventListener("change", handleChange);
    // `toggle` does not bubble: listen in the capture phase.
    document.addEventListener("toggle", handlePopoverToggle, true);
    document.body.addEventListener("htmx:afterSettle", handleResultsSettled);
    document.body.addEventListener("htmx:configRequest", handleConfigRequest);
    document.body.addEventListener("htmx:historyRestore", handleHistoryRestore);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
