// The tree designer (templates/admin/trees/treeversion/designer.html): keep the selected
// node in view and marked, move focus between the diagram and the panel (Enter on a node
// opens its panel; Escape goes back to the node), and zoom without a page load.
// Everything here is an enhancement: without it every control is a link or a form.
(function () {
  "use strict";
  var ZOOMS = [25, 50, 75, 100, 150];

  function selectedKey() {
    var panel = document.getElementById("panel");
    return panel ? panel.getAttribute("data-key") : null;
  }

  function nodeLink(key) {
    if (!key) return null;
    return document.getElementById("d-node-" + key);
  }

  function markSelected() {
    var key = selectedKey();
    document.querySelectorAll("#diagram .node-selected").forEach(function (g) {
      g.classList.remove("node-selected");
    });
    document.querySelectorAll("#diagram .node-link[aria-current]").forEach(function (a) {
      a.removeAttribute("aria-current");
    });
    var link = nodeLink(key);
    if (link) {
      link.parentNode.classList.add("node-selected");
      link.setAttribute("aria-current", "true");
    }
    return link;
  }

  function keepInView(link) {
    var box = document.getElementById("diagram");
    if (!link || !box) return;
    var r = link.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    if (r.left < b.left || r.right > b.right || r.top < b.top || r.bottom > b.bottom) {
      box.scrollLeft += r.left - b.left - (b.width - r.width) / 2;
      box.scrollTop += r.top - b.top - (b.height - r.height) / 2;
    }
  }

  function setZoom(zoom) {
    var svg = document.querySelector("#diagram svg");
    if (!svg) return;
    svg.setAttribute("width", Math.round(svg.getAttribute("data-width") * zoom / 100));
    svg.setAttribute("height", Math.round(svg.getAttribute("data-height") * zoom / 100));
    var value = document.querySelector("[data-zoom-value]");
    if (value) value.textContent = zoom + "%";
    var i = ZOOMS.indexOf(zoom);
    document.querySelectorAll("[data-zoom]").forEach(function (a) {
      var next = a.getAttribute("aria-label") === "Zoom in" ? ZOOMS[i + 1] : ZOOMS[i - 1];
      a.hidden = next === undefined;
      if (next !== undefined) a.setAttribute("data-zoom", String(next));
    });
    document.documentElement.setAttribute("data-designer-zoom", String(zoom));
    keepInView(nodeLink(selectedKey()));
  }

  function openPanel(url, focusPanel) {
    if (!window.htmx) {
      window.location.href = url;
      return;
    }
    window.htmx
      .ajax("GET", url, { target: "#panel", swap: "outerHTML", select: "#panel" })
      .then(function () {
        window.history.pushState({}, "", url);
        keepInView(markSelected());
        if (focusPanel) {
          var heading = document.getElementById("panel-title");
          if (heading) heading.focus();
        }
      });
  }

  document.addEventListener("click", function (event) {
    // Nodes are SVG links, which htmx does not take over: open their panel here.
    var node = event.target.closest("#diagram a.node-link, #problems a[data-select-node]");
    if (node && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      openPanel(node.getAttribute("href"), true);
      return;
    }
    var zoom = event.target.closest("[data-zoom]");
    if (zoom) {
      event.preventDefault();
      setZoom(parseInt(zoom.getAttribute("data-zoom"), 10));
      return;
    }
    var back = event.target.closest("[data-panel-close]");
    if (back) {
      var link = nodeLink(selectedKey());
      if (link) {
        event.preventDefault();
        link.focus();
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = document.getElementById("panel");
    var active = document.activeElement;
    // Focus is in the panel, or nowhere yet: a save just swapped the panel and
    // focus moves to its heading only once htmx has settled.
    if (!panel || (active && active !== document.body && !panel.contains(active))) return;
    var link = nodeLink(selectedKey());
    if (link) {
      event.preventDefault();
      link.focus();
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var zoom = document.documentElement.getAttribute("data-designer-zoom");
    if (zoom && event.detail.target && event.detail.target.id !== "panel") setZoom(parseInt(zoom, 10));
    var link = markSelected();
    keepInView(link);
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var panel = document.getElementById("panel");
    if (!panel || !source) return;
    if (source.tagName === "FORM") {
      // Unless the author has moved on meanwhile (Escape back to the diagram
      // between the swap and the settle): their focus is theirs.
      var active = document.activeElement;
      if (active && active !== document.body && !panel.contains(active)) return;
      var invalid = panel.querySelector("[aria-invalid='true'], .errors input, .errors select, .errors textarea");
      var status = panel.querySelector("[role='alert'], [role='status']");
      if (invalid) invalid.focus();
      else if (status) {
        var heading2 = document.getElementById("panel-title");
        if (heading2) heading2.focus();
      }
    }
  });

  function start() {
    var link = markSelected();
    if (link) keepInView(link);
    else {
      // Nothing selected: show the start node (a diagram is often wider than its box).
      var mark = document.querySelector("#diagram .node-start");
      if (mark) keepInView(mark);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
