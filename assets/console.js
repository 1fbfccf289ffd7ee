// credledger console: copy buttons and the destroy confirmation. No inline script is
// allowed by the Content-Security-Policy, so this file is the only code besides htmx.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) return;
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent).then(function () {
      var old = b.textContent;
      b.textContent = "Copied";
      setTimeout(function () { b.textContent = old; }, 1500);
    });
  });
  function syncConfirm(input) {
    var form = input.closest("form");
    var button = form && form.querySelector("[data-confirm-button]");
    if (button) button.disabled = input.value.trim() !== input.getAttribute("data-confirm");
  }
  document.addEventListener("input", function (ev) {
    if (ev.target.matches && ev.target.matches("input[data-confirm]")) syncConfirm(ev.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-confirm]").forEach(syncConfirm);
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
})();
