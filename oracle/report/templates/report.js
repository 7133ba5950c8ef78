// Filtering of the index: by text and by status. Without JavaScript every verdict stays visible.
(function () {
  "use strict";
  var form = document.getElementById("filter");
  if (!form) return;
  form.hidden = false;
  var search = form.querySelector("input[type=search]");
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox]"));
  var shown = form.querySelector("output");
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-status]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-row]"));

  function apply() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = {};
    boxes.forEach(function (box) { wanted[box.value] = box.checked; });
    var count = 0;
    items.forEach(function (item) {
      var text = (item.getAttribute("data-search") || "").toLowerCase();
      var visible = wanted[item.getAttribute("data-status")] !== false &&
        words.every(function (word) { return text.indexOf(word) !== -1; });
      item.hidden = !visible;
      if (visible && item.tagName === "TR") count += 1;
    });
    rows.forEach(function (row) { row.hidden = !row.querySelector("[data-status]:not([hidden])"); });
    shown.textContent = count + " shown";
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); });
  search.addEventListener("input", apply);
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  apply();
})();
