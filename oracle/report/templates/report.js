// The report's few behaviours; without JavaScript every verdict stays visible and in order.
//   index: filter by text and status, kept in the URL's #fragment (a link shares the view);
//          columns sort on a click on their header.
//   pages: a copy button beside the reproduce command.
(function () {
  "use strict";

  // ---------------------------------------------------------------- filter, kept in the URL
  var form = document.getElementById("filter");
  if (form) {
    form.hidden = false;
    var search = form.querySelector("input[type=search]");
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox]"));
    var shown = form.querySelector("output");
    var items = Array.prototype.slice.call(document.querySelectorAll("[data-status]"));
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-row]"));

    var readFragment = function () {
      var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
      search.value = params.get("q") || "";
      var hidden = (params.get("hide") || "").split(",");
      boxes.forEach(function (box) { box.checked = hidden.indexOf(box.value) === -1; });
    };

    var writeFragment = function () {
      var params = new URLSearchParams();
      if (search.value) params.set("q", search.value);
      var hidden = boxes.filter(function (box) { return !box.checked; }).map(function (box) { return box.value; });
      if (hidden.length) params.set("hide", hidden.join(","));
      var fragment = params.toString();
      var url = window.location.pathname + window.location.search + (fragment ? "#" + fragment : "");
      try { window.history.replaceState(null, "", url); } catch (e) { window.location.hash = fragment; }
    };

    var apply = function () {
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
    };

    var changed = function () { apply(); writeFragment(); };
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    search.addEventListener("input", changed);
    boxes.forEach(function (box) { box.addEventListener("change", changed); });
    window.addEventListener("hashchange", function () { readFragment(); apply(); });
    readFragment();
    apply();
  }

  // ---------------------------------------------------------------- sortable columns
  Array.prototype.slice.call(document.querySelectorAll("table.verdicts")).forEach(function (table) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th[data-key]"));
    var body = table.tBodies[0];
    var value = function (row, column, key) {
      var cell = row.cells[column];
      var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
      if (key !== "number") return raw.toLowerCase();
      var number = parseFloat(raw);
      return isNaN(number) ? -Infinity : number;
    };
    headers.forEach(function (header) {
      header.tabIndex = 0;
      header.title = "sort by " + header.textContent;
      var sort = function () {
        var column = Array.prototype.indexOf.call(header.parentNode.children, header);
        var key = header.getAttribute("data-key");
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var sorted = Array.prototype.slice.call(body.rows).map(function (row, i) { return [row, i]; });
        sorted.sort(function (a, b) {
          var x = value(a[0], column, key), y = value(b[0], column, key);
          var order = x < y ? -1 : x > y ? 1 : a[1] - b[1];     // stable: ties keep their order
          return ascending ? order : -order;
        });
        sorted.forEach(function (pair) { body.appendChild(pair[0]); });
      };
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });

  // ---------------------------------------------------------------- copy the reproduce command
  Array.prototype.slice.call(document.querySelectorAll("button.copy[data-copy]")).forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    button.hidden = false;
    var done = function (text) {
      button.textContent = text;
      window.setTimeout(function () { button.textContent = "copy"; }, 2000);
    };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok ? "copied" : "press Ctrl+C");
    };
    button.addEventListener("click", function () {
      var text = source.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("copied"); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
