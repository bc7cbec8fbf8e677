// Tree diagrams on the tree page and in the reports (trees/diagram.py): a diagram wider
// than its box scrolls, so bring its start node (or its selected one) into view once,
// when the page loads and after an htmx swap. No styles are written.
(function () {
  "use strict";

  function centre(box) {
    var node = box.querySelector(".node-selected") || box.querySelector(".node-start");
    if (!node) return;
    var group = node.closest(".node") || node;
    var r = group.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    box.scrollLeft += r.left - b.left - (b.width - r.width) / 2;
    box.scrollTop += r.top - b.top - 16;
  }

  function all() {
    document.querySelectorAll(".diagram-scroll").forEach(function (box) {
      if (box.getAttribute("data-centred")) return;
      box.setAttribute("data-centred", "1");
      centre(box);
    });
  }

  document.addEventListener("htmx:afterSettle", all);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();
