// The console's only script: progressive help, never required. Pages
// work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: <button data-copy="id-of-element">.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.dataset.copy);
      if (!el || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.value || el.textContent).then(function () {
        var was = b.textContent;
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = was; }, 2000);
      });
    });
  });
  // Typed confirmations: <form data-confirm-input="id" data-confirm-value="text">
  // keeps its submit button disabled until the input holds the text.
  document.querySelectorAll("form[data-confirm-value]").forEach(function (f) {
    var input = document.getElementById(f.dataset.confirmInput);
    var button = f.querySelector("button[type=submit]");
    if (!input || !button) { return; }
    var check = function () { button.disabled = input.value !== f.dataset.confirmValue; };
    input.addEventListener("input", check);
    check();
  });
  // Selects that submit their form on change: <select data-autosubmit>.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { if (s.form) { s.form.requestSubmit(); } });
  });
});
// A form answered with errors, or made stale by someone else's change:
// focus the box that says so (it links to each field), so that keyboard
// and screen reader users start there.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("errors") || document.getElementById("conflict");
  if (box) { box.focus(); }
});
