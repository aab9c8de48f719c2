// Keyboard for the review UI. Without it the pages work by plain form posts.
// Task page: Enter accepts (or saves what was typed), typing replaces (the reading is
// selected), Tab skips to the next task, F8 marks the field unreadable, F9 missing.
// Group grid: Tab moves between boxes, Enter saves all, F8 / F9 mark the focused box.
(function () {
  "use strict";

  function submitWith(form, action) {
    var button = form.querySelector('button[name="action"][value="' + action + '"]');
    if (button) { form.requestSubmit(button); }
  }

  function taskPage(section) {
    var form = document.getElementById("decide");
    var input = document.getElementById("value");
    if (input) { input.focus(); input.select(); }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Tab" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        window.location.href = section.dataset.skip;
      } else if (form && e.key === "F8") {
        e.preventDefault();
        submitWith(form, "unreadable");
      } else if (form && e.key === "F9") {
        e.preventDefault();
        submitWith(form, "missing");
      }
    });
  }

  function groupPage(grid) {
    var first = grid.querySelector('input[name^="v-"]');
    if (first) { first.focus(); first.select(); }
    grid.addEventListener("focusin", function (e) {
      if (e.target.matches('input[name^="v-"]')) { e.target.select(); }
    });
    grid.addEventListener("keydown", function (e) {
      var target = e.target;
      if ((e.key !== "F8" && e.key !== "F9") || !target.matches('input[name^="v-"]')) { return; }
      e.preventDefault();
      var cell = target.closest(".cell");
      var select = cell.querySelector("select");
      var value = e.key === "F8" ? "unreadable" : "missing";
      select.value = select.value === value ? "" : value;  // a second press takes it back
      cell.classList.toggle("marked", select.value !== "");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("section.task");
    if (section) { taskPage(section); }
    var grid = document.getElementById("grid");
    if (grid) { groupPage(grid); }
  });
})();
